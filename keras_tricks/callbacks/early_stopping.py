import warnings

import keras

from keras_tricks import _checks, _layers
from keras_tricks.callbacks import _callback_state, _ordering
from keras_tricks.callbacks._callback_state import Resumable
from keras_tricks.optimizers import _chain

CRITERIA = ("patience", "gl", "pq", "up")
MODES = ("auto", "min", "max")

# What a resumed fit needs besides the best weights; saved as JSON at each epoch end.
_SCALARS = (
    "wait",
    "best",
    "best_epoch",
    "stopped_epoch",
    "smoothed",
    "generalization_loss",
    "training_progress",
    "_monitored_epochs",
    "_training_strip",
    "_strip_end_values",
)


class EarlyStopping(Resumable, keras.callbacks.EarlyStopping):
    """Stops training by Keras's patience rule or by one of Prechelt's criteria; resumable.

    A drop-in for `keras.callbacks.EarlyStopping`: with its arguments alone it behaves exactly as Keras's
    (it is a subclass, and Keras's own code keeps the best value, the wait count and the best weights).
    It adds the three stopping criteria of Prechelt (1998), an optional exponential smoothing of the
    monitored value, restoring the optimizer's variables along with the best weights, and a state that
    survives an interruption resumed by `keras.callbacks.BackupAndRestore`.

    With E_va(t) the monitored validation error after epoch t, E_opt(t) the best value so far and E_tr
    the training error, Prechelt's criteria are:

    - `"gl"`, generalization loss: stop after the first epoch with
      GL(t) = 100 · (E_va(t) / E_opt(t) − 1) > α (the validation error is α % above its best).
    - `"pq"`, progress quotient: training is seen in strips of k epochs; at the end of each strip,
      P_k(t) = 1000 · (Σ_{strip} E_tr / (k · min_{strip} E_tr) − 1) measures how much the training error
      still moves (in per mille); stop when GL(t) / P_k(t) > α: generalization is lost faster than
      training progresses.
    - `"up"`: stop when the validation error, read at strip ends, went up in s successive strips.

    Prechelt's criteria are defined for errors: `"gl"` and `"pq"` need a monitored quantity to minimize,
    positive; `"up"` works in either `mode`. Only epochs from `start_from_epoch` on are monitored, and
    strips are counted from there. The patience rule's `patience` and `baseline` belong to
    `criterion="patience"` alone. With `smoothing` = β > 0 every decision (including the best epoch) uses
    s_t = β · s_{t−1} + (1 − β) · E_va(t), s_0 = E_va(0), also written to `logs` as
    `"<monitor>_smoothed"`.

    To resume: Keras's `BackupAndRestore` saves the model and optimizer at each epoch end, but no
    callback's attributes. Given `backup_dir` (a directory of its own, not `BackupAndRestore`'s), this
    callback writes its state there at each epoch end (a small JSON file, and the best weights as `.npz`
    when they change), reads it back when the next `fit` resumes at the following epoch, and deletes it
    when training ends. State from another point of training (a run that was not resumed where it
    stopped) is discarded with a warning.

    Two deliberate differences from Keras's: a `monitor` missing from `logs` gives Keras's warning (which
    lists the available metrics) even in `mode="auto"`, where Keras's raises because it cannot tell
    whether the unknown metric is to be minimized; an unknown `mode` raises `ValueError` where Keras's
    warns and falls back to `"auto"` (as keras-tricks's `ReduceLROnPlateau` does).

    The best weights and the optimizer's variables are kept by variable key (the layer path and the
    variable's name, see `keras_tricks._layers`), not by position in a list: they are restored into the
    right variables when `Unfreeze` has changed the trainable variables and replaced the optimizer
    since the best epoch. With `restore_optimizer`, the slots of variables that had none at the best
    epoch (layers unfrozen since) are set to zero, as fresh slots are; variables sized by the trainable
    variables (`GradientClipping`'s per-variable statistics) are left as they are when that size changed.

    Args:
        monitor: String. Quantity to be monitored. Defaults to `"val_loss"`.
        min_delta: Float. Minimum change in the monitored quantity to qualify as an improvement.
            Defaults to `0`.
        patience: Integer. With `criterion="patience"`, number of epochs with no improvement after which
            training is stopped. Defaults to `0`.
        verbose: Integer. 0 is silent, 1 prints a message when the callback acts. Defaults to `0`.
        mode: String. One of `"auto"`, `"min"`, `"max"`, as for Keras's. Defaults to `"auto"`.
        baseline: Float or `None`. With `criterion="patience"`, the value to improve on. Defaults to
            `None`.
        restore_best_weights: Boolean. Whether to restore the weights of the best epoch at the end of
            training. Defaults to `False`.
        start_from_epoch: Integer. Number of warm-up epochs that are not monitored. Defaults to `0`.
        criterion: String. `"patience"` (Keras's rule), `"gl"`, `"pq"` or `"up"`. Defaults to
            `"patience"`.
        alpha: Float or `None`. Threshold α of `"gl"` (in %) and `"pq"`; required by them, > 0.
            Defaults to `None`.
        strip_length: Integer. Strip length k (epochs) of `"pq"` and `"up"`, ≥ 1. Defaults to `5`.
        strips: Integer. Number s of successive rising strips that stop `"up"`, ≥ 1. Defaults to `3`.
        train_monitor: String or `None`. The training error of `"pq"`; `None` takes `monitor` without its
            `"val_"` prefix. Defaults to `None`.
        smoothing: Float in [0, 1). Exponential smoothing β of the monitored value; 0 disables it.
            Defaults to `0.0`.
        restore_optimizer: Boolean. With `restore_best_weights`, also restore the optimizer's variables
            (slots and iteration count) of the best epoch, so that training can continue from it.
            Defaults to `False`.
        backup_dir: String or `None`. Directory where the state is kept so that a `fit` resumed by
            `BackupAndRestore` stops as an uninterrupted one would. Defaults to `None` (not kept).

    Example:

    >>> import numpy as np
    >>> class ScriptedValLoss(keras.callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         logs["val_loss"] = [1.0, 0.8, 0.7, 0.72, 0.75, 0.9, 1.0][epoch]
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> stop = EarlyStopping(criterion="gl", alpha=5.0)  # stop once 5 % above the best
    >>> history = model.fit(np.ones((8, 2)), np.ones(8), epochs=7, verbose=0,
    ...                     callbacks=[ScriptedValLoss(), stop])
    >>> len(history.history["loss"]), stop.stopped_epoch, stop.best_epoch
    (5, 4, 2)

    References:
        - Prechelt, L. (1998). [Early Stopping — But When?](https://doi.org/10.1007/3-540-49430-8_3)
          In *Neural Networks: Tricks of the Trade*, LNCS 1524.
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
        criterion="patience",
        alpha=None,
        strip_length=5,
        strips=3,
        train_monitor=None,
        smoothing=0.0,
        restore_optimizer=False,
        backup_dir=None,
    ):
        monitor = _checks.string("monitor", monitor)
        min_delta = _checks.number("min_delta", min_delta)
        patience = _checks.non_negative_int("patience", patience)
        verbose = _checks.non_negative_int("verbose", verbose)
        mode = _checks.choice("mode", mode, MODES)
        baseline = _checks.number("baseline", baseline, allow_none=True)
        restore_best_weights = _checks.boolean("restore_best_weights", restore_best_weights)
        start_from_epoch = _checks.non_negative_int("start_from_epoch", start_from_epoch)
        criterion = _checks.choice("criterion", criterion, CRITERIA)
        alpha = _checks.positive_number("alpha", alpha, allow_none=True)
        if criterion in ("gl", "pq"):
            if alpha is None:
                raise ValueError(f"Expected alpha > 0 for criterion={criterion!r}. Received: alpha={alpha}")
            if mode == "max":
                raise ValueError(
                    f"criterion={criterion!r} measures an error to minimize; use mode='min' or 'auto', or "
                    f"criterion='up'. Received: mode={mode!r}"
                )
        elif alpha is not None:
            raise ValueError(f"alpha is used by criterion 'gl' and 'pq' only. Received: alpha={alpha}")
        if criterion != "patience" and (patience != 0 or baseline is not None):
            raise ValueError(
                "patience and baseline belong to criterion='patience'. Received: "
                f"criterion={criterion!r}, patience={patience}, baseline={baseline}"
            )
        strip_length = _checks.positive_int("strip_length", strip_length)
        strips = _checks.positive_int("strips", strips)
        train_monitor = _checks.string("train_monitor", train_monitor, allow_none=True)
        smoothing = _checks.number("smoothing", smoothing, low=0, high=1, high_open=True)
        restore_optimizer = _checks.boolean("restore_optimizer", restore_optimizer)
        if restore_optimizer and not restore_best_weights:
            raise ValueError(
                "restore_optimizer=True restores the optimizer along with the best weights; it needs "
                f"restore_best_weights=True. Received: restore_best_weights={restore_best_weights}"
            )
        super().__init__(
            monitor=monitor,
            min_delta=min_delta,
            patience=patience,
            verbose=verbose,
            mode=mode,
            baseline=baseline,
            restore_best_weights=restore_best_weights,
            start_from_epoch=start_from_epoch,
        )
        self.criterion = criterion
        self.alpha = alpha
        self.strip_length = strip_length
        self.strips = strips
        self.train_monitor = train_monitor if train_monitor is not None else monitor.removeprefix("val_")
        self.smoothing = smoothing
        self.restore_optimizer = restore_optimizer
        self._arguments = {
            "monitor": monitor,
            "min_delta": abs(min_delta),
            "patience": patience,
            "mode": mode,
            "baseline": baseline,
            "restore_best_weights": restore_best_weights,
            "start_from_epoch": start_from_epoch,
            "criterion": criterion,
            "alpha": alpha,
            "strip_length": strip_length,
            "strips": strips,
            "train_monitor": self.train_monitor,
            "smoothing": smoothing,
            "restore_optimizer": restore_optimizer,
        }
        self._init_state(backup_dir)
        self.async_safe = True  # only epoch hooks: batches may be dispatched asynchronously
        self._reset_prechelt()

    _keras_tricks_roles = (_ordering.RESUMABLE, _ordering.WRITER)

    def _reset_prechelt(self):
        self.smoothed = None
        self.generalization_loss = None
        self.training_progress = None
        self.best_optimizer_variables = None
        self._monitored_epochs = 0
        self._training_strip = []
        self._strip_end_values = []

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._reset_prechelt()
        self._begin_state()
        latest = self._state.latest()
        resumed_at = _callback_state.checkpoint_epoch(self._peers)
        if latest is not None and latest[1].get("stopped") and latest[0] == resumed_at - 1:
            # Killed after the checkpoint of the epoch where it stopped: the fit had ended.
            _callback_state.end_finished_fit(self._peers, self.params["epochs"])

    def on_epoch_begin(self, epoch, logs=None):
        self._resume_state(epoch)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        best_weights = self.best_weights
        value = logs.get(self.monitor)
        if value is None:
            # Keras's own would first try to infer `mode` from a metric that is not there and raise.
            self.get_monitor_value(logs)  # Keras's warning, which lists the available metrics
        elif epoch < self.start_from_epoch:
            super().on_epoch_end(epoch, logs)
        else:
            value = float(value)
            if self.smoothing:
                previous = value if self.smoothed is None else self.smoothed
                self.smoothed = value = self.smoothing * previous + (1 - self.smoothing) * value
                logs[f"{self.monitor}_smoothed"] = value
            stop_training, stopped_epoch = self.model.stop_training, self.stopped_epoch
            super().on_epoch_end(epoch, {**logs, self.monitor: value})
            if self.criterion != "patience":
                # Keras's code above kept the best value and weights; whether to stop is Prechelt's call.
                self.model.stop_training, self.stopped_epoch = stop_training, stopped_epoch
                if self._prechelt_stops(value, logs):
                    self.stopped_epoch = epoch
                    self.model.stop_training = True
        self._new_best = self.best_weights is not best_weights
        if self._new_best and self.restore_optimizer:
            optimizer = self.model.optimizer
            keys = _chain.variable_keys(optimizer, self.model)
            self.best_optimizer_variables = {
                keys[id(v)]: keras.ops.convert_to_numpy(v) for v in optimizer.variables
            }
        self._save_state(epoch)

    def _prechelt_stops(self, value, logs):
        minimize = self.monitor_op is keras.ops.less
        if self.criterion in ("gl", "pq") and not minimize:
            raise ValueError(
                f"criterion={self.criterion!r} measures an error to minimize, but monitor={self.monitor!r} "
                "is maximized; monitor an error (mode='min') or use criterion='up'."
            )
        self._monitored_epochs += 1
        if self.criterion in ("gl", "pq"):
            self.generalization_loss = _generalization_loss(value, float(self.best))
            if self.criterion == "gl":
                return self.generalization_loss > self.alpha
        if self.criterion == "pq":
            training_error = logs.get(self.train_monitor)
            if training_error is None:
                warnings.warn(
                    f"Early stopping (criterion='pq') needs the training error `{self.train_monitor}`, which "
                    f"is not available. Available metrics are: {','.join(logs)}",
                    stacklevel=3,
                )
                return False
            self._training_strip = (self._training_strip + [float(training_error)])[-self.strip_length :]
        if self._monitored_epochs % self.strip_length:
            return False
        if self.criterion == "pq":
            strip = self._training_strip
            self.training_progress = 1000 * (sum(strip) / (len(strip) * min(strip)) - 1)
            if self.training_progress <= 0:  # training has stalled: any loss of generalization stops
                return self.generalization_loss > 0
            return self.generalization_loss / self.training_progress > self.alpha
        self._strip_end_values = (self._strip_end_values + [value])[-(self.strips + 1) :]
        ends = self._strip_end_values
        worse = [(b > a) if minimize else (b < a) for a, b in zip(ends[:-1], ends[1:], strict=True)]
        return len(worse) == self.strips and all(worse)

    def on_train_end(self, logs=None):
        self._finish_state()
        super().on_train_end(logs)
        if self.restore_optimizer and self.best_optimizer_variables is not None:
            optimizer = self.model.optimizer
            keys = _chain.variable_keys(optimizer, self.model)
            for variable in optimizer.variables:
                saved = self.best_optimizer_variables.get(keys[id(variable)])
                if saved is not None and tuple(saved.shape) == tuple(variable.shape):
                    variable.assign(saved)
                elif ":" in keys[id(variable)]:  # a slot the best epoch did not have (a layer unfrozen since)
                    variable.assign(keras.ops.zeros(variable.shape, variable.dtype))
                # else: sized by the trainable variables (GradientClipping's per-variable statistics),
                # which changed since: left as they are
        self._clear_state()

    def _state_config(self):
        return self._arguments

    def _state_to_save(self):
        scalars = {name: getattr(self, name) for name in _SCALARS}
        scalars["stopped"] = bool(self.model.stop_training)
        if self.best is not None:
            scalars["best"] = float(self.best)
        arrays = None
        if self._new_best and self.best_weights is not None:
            keys = _layers.variable_keys(self.model)
            arrays = {
                "best_weights": {
                    keys[id(v)]: w for v, w in zip(self.model.weights, self.best_weights, strict=True)
                }
            }
            if self.best_optimizer_variables is not None:
                arrays["best_optimizer_variables"] = self.best_optimizer_variables
        return scalars, arrays

    def _state_restored(self, scalars, arrays):
        for name in _SCALARS:
            setattr(self, name, scalars[name])
        if "best_weights" in arrays:
            keys = _layers.variable_keys(self.model)
            self.best_weights = [arrays["best_weights"][keys[id(v)]] for v in self.model.weights]
        self.best_optimizer_variables = arrays.get("best_optimizer_variables")


def _generalization_loss(value, best):
    if best > 0:
        return 100 * (value / best - 1)
    return 0.0 if value <= best else float("inf")
