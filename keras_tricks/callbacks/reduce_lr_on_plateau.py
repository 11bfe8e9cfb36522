import keras
import numpy as np

from keras_tricks import _checks, _messages
from keras_tricks.callbacks import _ordering
from keras_tricks.callbacks._callback_state import Resumable
from keras_tricks.optimizers import _chain
from keras_tricks.schedules.scaled_schedule import ScaledSchedule

MODES = ("auto", "min", "max")


class ReduceLROnPlateau(Resumable, keras.callbacks.ReduceLROnPlateau):
    """Keras's `ReduceLROnPlateau`, which also reduces a learning-rate schedule and resumes after a crash.

    The book's performance scheduling: when `monitor` has not improved by `min_delta` for `patience`
    epochs, multiply the learning rate by `factor` (never below `min_lr`), then wait `cooldown` epochs.
    It is a subclass of `keras.callbacks.ReduceLROnPlateau`: Keras's own code decides (the best value,
    the wait and cooldown counters, `mode="auto"` from each metric's direction, the warning when the
    monitored value is missing) and logs `learning_rate` at every epoch end; this class changes only the
    reduction, in three ways:

    - the rate reduced is the one of the optimizer that really steps, at the end of the model's optimizer
      chain (inside `GradientClipping`, `CyclicMomentum`, `LearningRateMultipliers`, a mixed-precision
      `LossScaleOptimizer`), looked up at each reduction (`Unfreeze` may have replaced the optimizer);
    - with a `keras.optimizers.schedules.LearningRateSchedule` (Keras's callback raises `TypeError`), the
      schedule is wrapped once in `keras_tricks.schedules.ScaledSchedule` and the reduction multiplies that
      wrapper's factor, so the schedule keeps running from the optimizer's iteration counter and the
      reduction composes with it. The train function is rebuilt after such a reduction on jax (where the
      factor is a constant of the traced step) and when the wrapper is installed;
    - given `backup_dir`, its state (best value, wait, cooldown, the schedule's factor) is kept there so
      that a `fit` resumed by `keras.callbacks.BackupAndRestore` continues the performance schedule
      exactly (a float learning rate is an optimizer variable, in Keras's checkpoint).

    One deliberate difference: an unknown `mode` raises `ValueError` (Keras's warns and falls back to
    `"auto"`), as for `keras_tricks.callbacks.EarlyStopping`. Messages go through Keras's logging
    (`keras.utils.disable_interactive_logging()` applies).

    Args:
        monitor: str. Quantity to monitor. Defaults to `"val_loss"`.
        factor: float in (0, 1). Multiplier of the learning rate. Defaults to `0.1`.
        patience: int. Epochs with no improvement before a reduction. Defaults to `10`.
        verbose: int. 1 prints a message at each reduction. Defaults to `0`.
        mode: str. `"auto"`, `"min"` or `"max"`. Defaults to `"auto"`.
        min_delta: float. Smallest change counted as an improvement. Defaults to `1e-4`.
        cooldown: int. Epochs to wait after a reduction before counting again. Defaults to `0`.
        min_lr: float. Lower bound of the learning rate at a reduction. Defaults to `0.0`.
        backup_dir: str or `None`. A folder of its own (not `BackupAndRestore`'s) where the callback's
            state is kept for a `fit` resumed by `keras.callbacks.BackupAndRestore`; removed when
            training ends. Defaults to `None` (not kept).

    Example:

    >>> import keras
    >>> from keras_tricks.callbacks import ReduceLROnPlateau
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 100, 0.5)
    >>> model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    >>> callback = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0)
    >>> callback.set_model(model)
    >>> callback.on_train_begin()
    >>> callback.on_epoch_end(0, {"loss": 1.0})
    >>> callback.on_epoch_end(1, {"loss": 1.0})
    >>> round(float(model.optimizer.learning_rate), 6)
    0.05

    References:
        - Géron, *Hands-On Machine Learning*, 3rd ed., chapter 11, "Learning Rate Scheduling".
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        backup_dir=None,
    ):
        self._arguments = {
            "monitor": _checks.string("monitor", monitor),
            "factor": _checks.number("factor", factor, low=0, high=1, low_open=True, high_open=True),
            "patience": _checks.non_negative_int("patience", patience),
            "mode": _checks.choice("mode", mode, MODES),
            "min_delta": abs(_checks.number("min_delta", min_delta)),
            "cooldown": _checks.non_negative_int("cooldown", cooldown),
            "min_lr": _checks.non_negative_number("min_lr", min_lr),
        }
        super().__init__(verbose=_checks.non_negative_int("verbose", verbose), **self._arguments)
        self._init_state(backup_dir)
        self.async_safe = True

    _keras_tricks_roles = (_ordering.RESUMABLE, _ordering.WRITER)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._begin_state()

    def on_epoch_begin(self, epoch, logs=None):
        self._resume_state(epoch)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self._save_state(epoch)

    def on_train_end(self, logs=None):
        self._finish_state()
        self._clear_state()

    def _reduce_optimizer_lr(self, optimizer, epoch, name=""):
        # Keras's on_epoch_end calls this with model.optimizer when the patience runs out.
        old_lr = _chain.learning_rate(optimizer)
        if not old_lr > np.float32(self.min_lr):
            return False
        new_lr = max(old_lr * self.factor, self.min_lr)
        scaled = self._scaled_schedule()
        if scaled is None:
            _chain.unwrap(optimizer).learning_rate = new_lr
        else:
            scaled.factor.assign(float(keras.ops.convert_to_numpy(scaled.factor)) * new_lr / old_lr)
            if keras.backend.backend() == "jax":
                self._retrace()
        if self.verbose > 0:
            name_str = f" {name}" if name else ""
            _messages.print_msg(
                f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing{name_str} learning rate to {new_lr}."
            )
        return True

    def _scaled_schedule(self):
        """The live `ScaledSchedule` of the stepping optimizer (installed if needed); `None`: a float rate."""
        optimizer = self.model.optimizer
        schedule = _chain.schedule(optimizer)
        if schedule is None:
            return None
        if isinstance(schedule, ScaledSchedule) and _chain.is_installed(optimizer, schedule):
            return schedule
        if not isinstance(schedule, ScaledSchedule):
            schedule = ScaledSchedule(schedule)
        _chain.set_schedule(optimizer, schedule)
        self._retrace()  # the traced step calls the schedule it was traced with
        return schedule

    def _retrace(self):
        if self.model.train_function is not None:
            self.model.make_train_function(force=True)

    def _state_config(self):
        return self._arguments

    def _state_to_save(self):
        schedule = _chain.schedule(self.model.optimizer)
        factor = None
        if isinstance(schedule, ScaledSchedule):
            factor = float(keras.ops.convert_to_numpy(schedule.factor))
        best = None if self.best is None else float(self.best)
        return {"best": best, "wait": self.wait, "cooldown": self.cooldown_counter, "factor": factor}, None

    def _state_restored(self, scalars, arrays):
        self.best, self.wait, self.cooldown_counter = scalars["best"], scalars["wait"], scalars["cooldown"]
        # A float learning rate is an optimizer variable, restored by BackupAndRestore; a schedule's factor
        # is not.
        if scalars["factor"] is not None and _chain.schedule(self.model.optimizer) is not None:
            scaled = self._scaled_schedule()
            scaled.factor.assign(scalars["factor"])
            self._retrace()
