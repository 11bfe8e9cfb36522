import keras

from keras_tricks import _checks, _layers
from keras_tricks.callbacks import _ordering, _trainability
from keras_tricks.optimizers import _chain
from keras_tricks.optimizers.gradient_clipping import GradientClipping


class GradientNormLogger(_ordering.Arranged, keras.callbacks.Callback):
    """Writes the gradient statistics of a `GradientMonitor` or `GradientClipping` optimizer into the logs.

    `GradientMonitor` (observing only) and `GradientClipping` accumulate their statistics inside the
    compiled train step; this callback reads
    them at the end of each epoch (or every `every_n_steps` steps), puts them into `logs` and resets
    them, so `History`, `CSVLogger`, `TensorBoard` and the progress bar show them with no extra code.
    Keys: `grad_norm` and `grad_norm_clipped` (mean global gradient norm before and after clipping),
    `grad_norm_max`, `grad_clip_rate` (fraction of steps clipped), `grad_nonfinite_steps` and, with
    `per_layer=True`, `grad_norm/<variable key>` (mean norm of each variable's gradient) and, when the
    optimizer was built with `update_ratios=True`, `update_ratio/<variable key>` (mean ‖Δw‖ / ‖w‖). Every
    trainable variable of the model has its keys in every epoch: `nan` while its layer is frozen
    (`Unfreeze`), as no gradient is computed for it.

    A variable key is the path of layer names from the model down to the variable, then its name
    (`grad_norm/hidden/kernel`), with Keras's automatic layer names numbered over this model alone
    (`dense`, `dense_1`... for its Dense layers, whatever was built before it; see
    `keras_tricks._layers`): the same model gives the same keys in every process, after
    `keras.saving.load_model`, and when other models were built before it, so a resumed run continues
    the same TensorBoard and CSV series. The callback list of the `fit` is arranged so that the keys
    are in `logs` before any other callback reads them (`CSVLogger`, `TensorBoard`), whatever the order
    the callbacks were given in.

    With `every_n_steps` the statistics of the last `every_n_steps` steps go into the batch logs every
    `every_n_steps` steps (each read is a host round-trip), and the epoch logs hold those of the steps
    since the last read.

    Args:
        per_layer: bool. Whether to log the per-variable statistics. Defaults to `True`.
        every_n_steps: int or None. If set, also read and reset every this many steps. Defaults to
            `None` (once per epoch, no per-batch hook).

    Example:

    >>> import keras, numpy as np
    >>> from keras_tricks.callbacks import GradientNormLogger
    >>> from keras_tricks.optimizers import GradientClipping
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(loss="mse", optimizer=GradientClipping(keras.optimizers.SGD(0.01), "global_norm", 1.0))
    >>> x, y = np.ones((8, 3), "float32"), np.full((8, 1), 100.0, "float32")
    >>> history = model.fit(x, y, epochs=2, verbose=0, callbacks=[GradientNormLogger(per_layer=False)])
    >>> history.history["grad_clip_rate"]
    [1.0, 1.0]
    """

    _keras_tricks_roles = (_ordering.LOGGER,)

    def __init__(self, per_layer=True, every_n_steps=None):
        super().__init__()
        self.per_layer = _checks.boolean("per_layer", per_layer)
        self.every_n_steps = _checks.positive_int("every_n_steps", every_n_steps, allow_none=True)
        # Without a per-batch read nothing here forces a host sync: Keras may run ahead asynchronously.
        self.async_safe = every_n_steps is None
        if every_n_steps is None:
            # Keras's own no-op, which it recognises as "no per-batch hook".
            self.on_train_batch_end = super().on_train_batch_end
        self._reads = 0
        self._keys = None

    def _wrapper(self):
        # Looked up at each read, not kept: `Unfreeze` replaces `model.optimizer` in the middle of `fit`.
        # Under a mixed-precision policy model.compile puts a LossScaleOptimizer around ours.
        return _chain.unwrap(self.model.optimizer, GradientClipping)

    def on_train_begin(self, logs=None):
        _ordering.check_arranged(self)
        self._keys = {}
        if self._wrapper() is None:
            raise ValueError(
                "GradientNormLogger reads the statistics of a GradientMonitor or GradientClipping optimizer, "
                f"but the model's optimizer is {self.model.optimizer!r}. Wrap it when compiling, e.g.\n"
                "    model.compile(optimizer=keras_tricks.optimizers.GradientMonitor(optimizer), ...)\n"
                '(GradientMonitor only observes; GradientClipping(optimizer, "global_norm", threshold=1.0) '
                "also clips)."
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._reads = 0
        # Each epoch starts from zero even when the state comes from a checkpoint taken before the last
        # read (`BackupAndRestore` listed before this callback saves the unread sums).
        optimizer = self._wrapper()
        if optimizer.built:  # on tensorflow the optimizer may be built at the first trace
            self._sync()
            optimizer.reset_statistics()

    def _sync(self):
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:  # jax keeps the live state outside the variables between epochs
            sync()

    def _read_and_reset(self, logs):
        self._sync()
        optimizer = self._wrapper()
        stats = optimizer.statistics()
        if not self.per_layer:
            stats = {key: value for key, value in stats.items() if "/" not in key}
        values = keras.ops.convert_to_numpy(keras.ops.stack(list(stats.values())))  # one transfer
        read = dict(zip(stats, values.tolist(), strict=True))
        for key, value in read.items():
            if "/" not in key:
                logs[key] = value
        if self.per_layer:
            # Every trainable variable of the model has its keys in every epoch, NaN while it is frozen
            # (no gradient): a CSVLogger fixes its columns at the first epoch.
            kinds = ["grad_norm"] + (["update_ratio"] if optimizer.update_ratios else [])
            for variable in _trainability.trained_in_fit(self.model, self._peers):
                for kind in kinds:
                    logs[f"{kind}/{self._key(variable.path)}"] = read.get(
                        f"{kind}/{variable.path}", float("nan")
                    )
        optimizer.reset_statistics()
        return logs

    def _key(self, path):
        if path not in self._keys:  # a model built at its first step (tensorflow, no keras.Input)
            self._keys = _layers.keys_by_path(self.model)
        return self._keys[path]

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the last step of the execution, which may span several steps (steps_per_execution).
        reads = (batch + 1) // self.every_n_steps
        if reads > self._reads:
            self._reads = reads
            self._read_and_reset(logs if logs is not None else {})

    def on_epoch_end(self, epoch, logs=None):
        self._read_and_reset(logs if logs is not None else {})
