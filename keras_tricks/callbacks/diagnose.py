"""`Diagnose`: names what is wrong with a training run during `fit`, with the chapter's remedy."""

import keras
import numpy as np

from keras_tricks import _checks, _layers, _messages
from keras_tricks.callbacks import _ordering
from keras_tricks.callbacks.activation_stats import ActivationStats
from keras_tricks.callbacks.gradient_norm_logger import GradientNormLogger
from keras_tricks.diagnostics import _activation_stats, _evidence
from keras_tricks.diagnostics._diagnosis import Diagnosis, read
from keras_tricks.optimizers import _chain
from keras_tricks.optimizers.gradient_clipping import GradientClipping


class Diagnose(_ordering.Arranged, keras.callbacks.Callback):
    """Reads the evidence of a training run at each epoch end and names what is wrong, with the remedy.

    The reading of `keras_tricks.diagnostics.diagnose`, during `fit`: at the end of each epoch the
    callback gathers the evidence and applies the same rules (codes and thresholds in
    `keras_tricks.diagnostics.CODES` and `THRESHOLDS`):

    - the losses of the epochs so far (`diverging_loss`, and `overfitting` with validation data);
    - the gradient statistics a `GradientMonitor` or `GradientClipping` computed inside the train step:
      from the logs of a `GradientNormLogger` of the same `fit` if there is one, else read from the
      wrapper (and reset); without one, one backward pass on the probe batch (`x_probe`, `y_probe`):
      `vanishing_gradients`, `exploding_gradients`, `nonfinite_gradients`, `over_clipping`;
    - how far the epoch moved each kernel, ‖w_end − w_begin‖ / ‖w_begin‖ per step
      (`learning_rate_too_low`);
    - the activation statistics of the probe batch, or those of an `ActivationStats` of the same `fit`
      (`saturated_activations`, `dead_units`, and `exploding_gradients` when the layers' outputs
      spread out layer by layer);
    - at train begin, the probe's scale (`unscaled_inputs`) and, for a SELU network, the conditions of
      self-normalization (`not_self_normalizing`).

    It defines no per-batch hook: the cost is one forward pass on the probe (and one backward pass
    without a `GradientMonitor` or `GradientClipping`) and one copy of the kernels per epoch. It writes
    the number of findings of the epoch into `logs["diagnosis_findings"]`, keeps every finding in
    `findings` (a `keras_tricks.diagnostics.Diagnosis`) and prints the report when training ends
    (through Keras's logging), one line per problem, errors first.

    Args:
        x_probe: array or `None`. A probe batch of inputs (e.g. 256 validation images) for the
            activation statistics and the inputs' scale. Defaults to `None` (no activation findings
            unless an `ActivationStats` is in the fit).
        y_probe: array or `None`. Its targets, for a backward pass when the optimizer is not a
            `GradientClipping`. Defaults to `None`.
        every: int. Read the probe every this many epochs (the losses are read every epoch). Defaults
            to `1`.
        verbose: int. `1` prints the report at train end. Defaults to `1`.

    Example:

    >>> import keras, numpy as np
    >>> from keras_tricks.callbacks import Diagnose, GradientNormLogger
    >>> from keras_tricks.optimizers import GradientMonitor
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(256, 8)).astype("float32"), rng.normal(size=(256, 1)).astype("float32")
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
    ...                           keras.layers.Dense(1)])
    >>> model.compile(optimizer=GradientMonitor(keras.optimizers.SGD(1e-7)), loss="mse")
    >>> diagnose = Diagnose(x_probe=x[:64], verbose=0)
    >>> history = model.fit(x, y, epochs=2, verbose=0, callbacks=[GradientNormLogger(), diagnose])
    >>> diagnose.findings.codes
    ['learning_rate_too_low']
    >>> history.history["diagnosis_findings"]
    [1, 1]
    """

    _keras_tricks_roles = (_ordering.WRITER,)

    def __init__(self, x_probe=None, y_probe=None, every=1, verbose=1):
        super().__init__()
        if x_probe is not None:
            _activation_stats.check_probe(x_probe, "x_probe")
        if y_probe is not None and x_probe is None:
            raise ValueError(
                f"y_probe needs x_probe (the inputs it goes with). Received: y_probe={y_probe!r}"
            )
        self.x_probe = x_probe
        self.y_probe = y_probe
        self.every = _checks.positive_int("every", every)
        self.verbose = _checks.non_negative_int("verbose", verbose)
        self.findings = Diagnosis()
        self.async_safe = True

    def on_train_begin(self, logs=None):
        _ordering.check_arranged(self)
        self.findings = Diagnosis()
        self._losses, self._val_losses, self._before = [], [], None
        # The probe's network (the model's layers' outputs), built once per fit, not every epoch.
        self._probe = None if self.x_probe is None else _activation_stats.probe_model(self.model)
        evidence = {"self_normalizing": _evidence.self_normalizing_problems(self.model, self.x_probe)}
        if self.x_probe is not None:
            evidence["inputs"] = _evidence.input_scale(self.x_probe)
        self._add(read(evidence, None))

    def _measured(self, epoch):
        return epoch % self.every == 0

    def _kernels(self):
        keys = _layers.keys_by_path(self.model)
        return {
            keys[v.path]: keras.ops.convert_to_numpy(v).astype("float64")
            for v in self.model.weights
            if keys[v.path].endswith("kernel")
        }

    def on_epoch_begin(self, epoch, logs=None):
        self._before = self._kernels() if self._measured(epoch) else None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        self._losses.append(float(logs.get("loss", float("nan"))))
        if "val_loss" in logs:
            self._val_losses.append(float(logs["val_loss"]))
        evidence = {"losses": self._losses, "val_losses": self._val_losses}
        if self._measured(epoch):
            evidence.update(self._gradient_evidence(logs))
            evidence.update(self._activation_evidence())
            if self._before is not None:
                evidence["update_ratio"] = self._update_ratios()
        found = read(evidence, epoch)
        self._add(found)
        logs["diagnosis_findings"] = len(found)

    def _add(self, found):
        self.findings = Diagnosis([*self.findings, *found], self.findings.evidence)

    def _update_ratios(self):
        steps = max(int((self.params or {}).get("steps") or 1), 1)
        after = self._kernels()
        ratios = {}
        for key, before in self._before.items():
            if key in after:
                norm = np.linalg.norm(before)
                ratios[key] = float(np.linalg.norm(after[key] - before) / max(norm, 1e-30) / steps)
        return ratios

    def _gradient_evidence(self, logs):
        wrapper = _chain.unwrap(self.model.optimizer, GradientClipping)
        if any(key.startswith("grad_norm/") for key in logs):  # a GradientNormLogger read them
            stats = {key: value for key, value in logs.items() if key.startswith("grad")}
        elif wrapper is not None and not any(isinstance(c, GradientNormLogger) for c in self._peers or ()):
            stats = {key: float(keras.ops.convert_to_numpy(v)) for key, v in wrapper.statistics().items()}
            keys = _layers.keys_by_path(self.model)
            stats = {
                (f"{k.split('/', 1)[0]}/{keys.get(k.split('/', 1)[1], k)}" if "/" in k else k): v
                for k, v in stats.items()
            }
            wrapper.reset_statistics()
        elif self.x_probe is not None and self.y_probe is not None:
            return _evidence.gradients(self.model, self.x_probe, self.y_probe)
        else:
            return {}
        keys = _layers.keys_by_path(self.model)
        sizes = {keys[v.path]: int(np.prod(v.shape)) for v in self.model.weights}
        evidence = {
            "gradient_rms": {
                key[len("grad_norm/") :]: value / np.sqrt(max(sizes.get(key[len("grad_norm/") :], 1), 1))
                for key, value in stats.items()
                if key.startswith("grad_norm/")
            },
            "gradient_norm": stats.get("grad_norm"),
            "nonfinite_steps": stats.get("grad_nonfinite_steps", 0.0),
        }
        if wrapper is not None and wrapper.mode is not None and stats.get("grad_norm"):
            evidence["clip_rate"] = stats.get("grad_clip_rate")
            evidence["clipped_over_norm"] = stats.get("grad_norm_clipped", 0.0) / max(
                stats["grad_norm"], 1e-30
            )
        return evidence

    def _activation_evidence(self):
        if self.x_probe is not None:
            return {"activations": _evidence.activations(self.model, self.x_probe, self._probe)}
        recorder = next((c for c in self._peers or () if isinstance(c, ActivationStats) and c.history), None)
        if recorder is None:
            return {}
        _, stats = recorder.history[-1]
        keys = ("activation", "saturated", "dead_units", "std")
        return {"activations": {name: {k: layer[k] for k in keys} for name, layer in stats.items()}}

    def on_train_end(self, logs=None):
        if self.verbose:
            _messages.print_msg(self.findings.report())
