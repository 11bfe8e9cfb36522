"""`ActivationStats`: per-layer activation statistics on a probe batch, written into `logs` at epoch end."""

import keras

from keras_tricks import _checks
from keras_tricks.callbacks import _ordering
from keras_tricks.diagnostics import _activation_stats as diagnostics


class ActivationStats(_ordering.Arranged, keras.callbacks.Callback):
    """Writes per-layer activation statistics of a probe batch into `logs` at the end of epochs.

    At the end of every `every`-th epoch (the first one included), runs the model once on `x_probe`
    in inference mode — one forward pass, no per-batch hook, no cost during the epoch — with
    `keras_tricks.diagnostics.activation_stats`, and adds to `logs`, for each layer:

    - `act_std/<layer>`: the standard deviation of its outputs;
    - `act_saturated/<layer>`: the fraction of saturated outputs (sigmoid, tanh layers only);
    - `act_dead/<layer>`: the fraction of exact zeros (ReLU, ReLU6 layers only).

    History, CSVLogger, TensorBoard and the progress bar then show them with no extra code. On the
    epochs in between the keys hold `nan`, so every key has one value per epoch in `History`. The full
    statistics (histograms included) of each measured epoch are kept in `history`, a list of
    `(epoch, stats)` pairs, for `keras_tricks.plot.activation_histograms`.

    Args:
        x_probe: array or structure of arrays. The probe batch (e.g. 256 validation images), passed
            to the model in one call.
        every: int. Measure every `every` epochs. Defaults to `1`.
        bins: int. Histogram bins kept in `history`. Defaults to `50`.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((3,)),
    ...     keras.layers.Dense(4, activation="tanh", name="hidden"), keras.layers.Dense(1, name="out")])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.ones((8, 3)), np.ones((8, 1))
    >>> logs = model.fit(x, y, epochs=2, verbose=0, callbacks=[ActivationStats(x[:4])]).history
    >>> sorted(key for key in logs if key.startswith("act_"))
    ['act_saturated/hidden', 'act_std/hidden', 'act_std/out']
    >>> len(logs["act_std/hidden"])
    2

    References:
        Géron, *Hands-On Machine Learning*, 3rd ed., chapter 11, "The Vanishing/Exploding Gradients
        Problems".
    """

    _keras_tricks_roles = (_ordering.LOGGER,)

    def __init__(self, x_probe, every=1, bins=50):
        super().__init__()
        diagnostics.check_probe(x_probe, "x_probe")
        every = _checks.positive_int("every", every)
        diagnostics.check_bins(bins)
        self.x_probe = x_probe
        self.every = int(every)
        self.bins = bins
        self.history = []
        self._probe = None
        self.async_safe = True

    def set_model(self, model):
        super().set_model(model)
        self._probe = None  # built lazily: the model may not be built yet

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if self._probe is None:
            self._probe = diagnostics.probe_model(self.model)
        probe, activations = self._probe
        measured = epoch % self.every == 0
        stats = (
            diagnostics.stats_from_outputs(probe(self.x_probe, training=False), activations, self.bins)
            if measured
            else None
        )
        if measured:
            self.history.append((epoch, stats))
        for name, activation in activations.items():
            layer_stats = stats[name] if measured else None
            logs[f"act_std/{name}"] = layer_stats["std"] if measured else float("nan")
            if activation in diagnostics.SATURATING:
                logs[f"act_saturated/{name}"] = layer_stats["saturated"] if measured else float("nan")
            if activation in diagnostics.DYING:
                logs[f"act_dead/{name}"] = layer_stats["dead"] if measured else float("nan")
