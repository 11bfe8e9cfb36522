"""`Unfreeze`: transfer learning's freeze → train → unfreeze → lower the LR, inside one `fit`."""

import numbers
import warnings

import keras

from keras_tricks import _checks, _layers, _messages
from keras_tricks.callbacks import _callback_state, _ordering, _trainability
from keras_tricks.optimizers import LearningRateMultipliers, _chain, learning_rate_multipliers


class Unfreeze(_ordering.Arranged, keras.callbacks.Callback):
    """Freezes layers at the start of `fit` and unfreezes them at a given epoch, in one `fit` call.

    The book's transfer-learning recipe trains the new top of a reused model with the reused layers
    frozen, then unfreezes them, lowers the learning rate and trains again, calling `compile` in
    between. This callback does the same inside one `model.fit`:

    - at the start of training it sets `layer.trainable = False` on the chosen layers, exactly as the
      book does, so their weights are bit-identical step to step, no gradient is computed for them, and
      their `BatchNormalization` layers run in inference mode;
    - at the beginning of epoch `epoch` (0-based) it sets `trainable = True` again, and optionally
      multiplies the optimizer's learning rate by `lr_multiplier` (the book divides it by 10 or so);
    - with `gradual=True`, each element of `layers` is a group (a layer or a list of layers), ordered
      from the input to the output as in `model.layers`; the top group is unfrozen at `epoch`, the next
      one down at `epoch + 1`, and so on, one group per epoch (ULMFiT's gradual unfreezing).

    Each change of trainability rebuilds the optimizer for the new list of trainable variables (the
    JAX trainer requires the exact list; the new optimizer has the same config, and every variable the
    old one had — iteration count, learning rate, the slots of layers that stay trainable — is copied
    into it, so `model.optimizer` is a new object holding the same state) and forces new train, test
    and predict functions (each retraced at its next use). A trainability the model had before (since
    its last `compile`) takes the functions compiled for it again, with the optimizer object they were
    traced with, given the same state: a model frozen and unfrozen in each of several fits compiles each
    state once. Newly unfrozen layers start with fresh (zero) optimizer slots, as after the book's
    recompile, while the iteration count carries on.
    Layers are left as they are when training ends: if `fit` stops before `epoch`, they stay frozen.

    With `group_lr_multipliers`, the unfrozen layers get their own learning rate: the optimizer's times
    the group's multiplier (ULMFiT's discriminative fine-tuning gives lower groups lower rates). The
    optimizer is wrapped in `keras_tricks.optimizers.LearningRateMultipliers` at the start of `fit`
    (`model.optimizer` is then that wrapper, saved and loaded with the model); it works with any float
    learning rate or schedule, and `lr_multiplier` still scales all of them.

    The learning-rate multiplier is applied at the beginning of epoch `epoch` itself, so a run resumed
    with `keras.callbacks.BackupAndRestore` after that epoch (whose optimizer state, learning rate
    included, is restored) does not apply it twice. It needs a float learning rate, not a schedule. The
    rate changed is that of the optimizer that steps, inside any wrapper (`GradientClipping`,
    `LossScaleOptimizer`...).

    Resuming: with `keras.callbacks.BackupAndRestore` in the same `fit`, `Unfreeze` sets each layer's
    trainability to what it was when the checkpoint was written (from the epoch the checkpoint records)
    before the checkpoint is loaded, so the optimizer it loads has the same variables; the callback list
    is arranged so that this happens first, whatever the order the callbacks were given in.

    Args:
        layers: list. The layers to freeze: layer names (looked up in the model, nested models
            included) or layer objects; with `gradual=True`, elements may also be lists of those
            (groups).
        epoch: int. The 0-based epoch at whose beginning the layers are unfrozen (the first group with
            `gradual=True`). `0` never freezes them.
        gradual: bool. Unfreeze one group per epoch, top group first. Defaults to `False`.
        lr_multiplier: float. Multiplies the optimizer's learning rate at the first unfreeze. Defaults
            to `None` (leave it).
        group_lr_multipliers: float or list of floats > 0. After unfreezing, the learning rate of a
            group's variables is the optimizer's times its multiplier: one float for all the layers, or
            one per group with `gradual=True` (in the order of `layers`, e.g. `[0.25, 0.5, 1.0]`).
            Defaults to `None` (the optimizer's rate for all).
        verbose: int. `1` prints a line at each unfreeze. Defaults to `0`.
        backup_dir: str or None. Deprecated and ignored: a `fit` resumed by
            `keras.callbacks.BackupAndRestore` needs nothing more, as `Unfreeze` reads the epoch of the
            checkpoint and sets the layers as they were when it was written, before it is loaded.
            Defaults to `None`.

    Example:

    >>> import keras, numpy as np
    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="reused"),
    ...                           keras.layers.Dense(1, name="new_top")])
    >>> model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    >>> before = model.get_layer("reused").get_weights()[0].copy()  # get_weights may share memory
    >>> x, y = np.ones((8, 4), "float32"), np.ones((8, 1), "float32")
    >>> _ = model.fit(x, y, epochs=2, verbose=0, callbacks=[Unfreeze(["reused"], epoch=2)])
    >>> bool((model.get_layer("reused").get_weights()[0] == before).all())
    True
    >>> _ = model.fit(x, y, epochs=3, verbose=0,
    ...               callbacks=[Unfreeze(["reused"], epoch=2, lr_multiplier=0.1)])
    >>> bool((model.get_layer("reused").get_weights()[0] == before).all())
    False
    >>> round(float(model.optimizer.learning_rate), 4)
    0.01

    References:
        Géron, *Hands-On Machine Learning*, 3rd ed., chapter 11, "Transfer Learning with Keras".
        Howard & Ruder, "Universal Language Model Fine-tuning for Text Classification", 2018
        ([arXiv:1801.06146](https://arxiv.org/abs/1801.06146)), gradual unfreezing.
    """

    def __init__(
        self,
        layers,
        epoch,
        gradual=False,
        lr_multiplier=None,
        group_lr_multipliers=None,
        verbose=0,
        backup_dir=None,
    ):
        super().__init__()
        epoch = _checks.non_negative_int("epoch", epoch)
        gradual = _checks.boolean("gradual", gradual)
        lr_multiplier = _checks.positive_number("lr_multiplier", lr_multiplier, allow_none=True)
        if isinstance(layers, (str, keras.layers.Layer)) or not isinstance(layers, (list, tuple)):
            raise TypeError(
                f"Expected layers to be a list of layer names or layers. Received: layers={layers!r}"
            )
        groups = [list(g) if isinstance(g, (list, tuple)) else [g] for g in layers]
        if not groups or any(not g for g in groups):
            raise ValueError(f"Expected a non-empty list of layers and groups. Received: layers={layers!r}")
        if not gradual and any(isinstance(g, (list, tuple)) for g in layers):
            raise ValueError(
                "Groups (nested lists) only make sense with gradual=True. "
                f"Received: layers={layers!r}, gradual={gradual}"
            )
        for item in (item for g in groups for item in g):
            if not isinstance(item, (str, keras.layers.Layer)):
                raise TypeError(
                    "Expected each element of layers to be a layer name or a layer. "
                    f"Received: {item!r} in layers={layers!r}"
                )
        group_count = len(groups) if gradual else 1
        if group_lr_multipliers is not None:
            given = (
                list(group_lr_multipliers)
                if isinstance(group_lr_multipliers, (list, tuple))
                else [group_lr_multipliers] * group_count
            )
            if len(given) != group_count:
                raise ValueError(
                    "Expected group_lr_multipliers to be a number > 0 or a list of "
                    f"{group_count} numbers > 0 (one per group). "
                    f"Received: group_lr_multipliers={group_lr_multipliers!r}"
                )
            for multiplier in given:
                _checks.positive_number("group_lr_multipliers", multiplier)
        self.layers = layers
        self.epoch = int(epoch)
        self.group_lr_multipliers = group_lr_multipliers
        self.gradual = gradual
        self.lr_multiplier = lr_multiplier
        self.verbose = _checks.non_negative_int("verbose", verbose)
        if backup_dir is not None:
            _checks.directory("backup_dir", backup_dir)
            warnings.warn(
                "Unfreeze(backup_dir=...) is no longer needed and is ignored: Unfreeze reads the epoch of "
                "BackupAndRestore's checkpoint to resume.",
                DeprecationWarning,
                stacklevel=2,
            )
        self.backup_dir = backup_dir
        self._groups = groups if gradual else [[item for g in groups for item in g]]
        self._resolved = None
        self._resumed_at = None
        self._will_train = set()
        self.async_safe = True

    _keras_tricks_roles = (_ordering.RESUMABLE,)

    def set_model(self, model):
        super().set_model(model)
        self._resolved = [[_layers.find_layer(model, item, "layers") for item in g] for g in self._groups]

    def _unfreeze_epoch(self, group_index):
        # The last group (nearest the output) goes first.
        return self.epoch + (len(self._resolved) - 1 - group_index)

    def _apply(self, epoch):
        """Sets each group's trainability for the beginning of `epoch` (`None`: before any epoch)."""
        changed = []
        for index, group in enumerate(self._resolved):
            trainable = epoch is not None and epoch >= self._unfreeze_epoch(index)
            for layer in group:
                if layer.trainable != trainable:
                    layer.trainable = trainable
                    changed.append(layer)
        if changed:
            _trainability.refresh(self.model)
        return changed

    def _multipliers(self):
        """`{variable path: multiplier}` for the trainable variables of each group."""
        given = self.group_lr_multipliers
        per_group = list(given) if isinstance(given, (list, tuple)) else [given] * len(self._resolved)
        return {
            self._key(variable): float(multiplier)
            for group, multiplier in zip(self._resolved, per_group, strict=True)
            for layer in group
            for variable in layer.weights
            if variable.trainable
        }

    def on_train_begin(self, logs=None):
        _ordering.check_arranged(self)
        optimizer = self.model.optimizer
        learning_rate = _chain.unwrap(optimizer).get_config().get("learning_rate")
        if self.lr_multiplier is not None and not isinstance(learning_rate, numbers.Real):
            raise TypeError(
                "Unfreeze(lr_multiplier=...) needs an optimizer with a float learning rate; this one has "
                f"learning_rate={learning_rate!r}. Received: lr_multiplier={self.lr_multiplier}"
            )
        if self.group_lr_multipliers is not None:
            _trainability.replace_optimizer(self.model, self._with_multipliers(optimizer))
        # The variables it will train when it unfreezes them, taken while their layers are trainable.
        self._will_train |= {
            v.path for group in self._resolved for layer in group for v in layer.trainable_weights
        }
        # A resumed fit: the trainability of the epoch whose end the checkpoint holds, before it is loaded.
        self._resumed_at = _callback_state.checkpoint_epoch(self._peers) or None
        self._apply(None if self._resumed_at is None else self._resumed_at - 1)

    def _key(self, variable):
        # The path below the model (without the model's name), so that it also names a clone's variable.
        return variable.path.removeprefix(f"{self.model.name}/")

    def _with_multipliers(self, optimizer):
        """`optimizer` with the groups' multipliers, inside a `LossScaleOptimizer` if there is one."""
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            config = optimizer.get_config()
            inner = self._with_multipliers(optimizer.inner_optimizer)
            config["inner_optimizer"] = keras.saving.serialize_keras_object(inner)
            return keras.optimizers.LossScaleOptimizer.from_config(config)
        multipliers = self._multipliers()
        if isinstance(optimizer, LearningRateMultipliers):  # no wrapper around a wrapper: one, merged
            # The existing keys, one per variable they name, so that the groups' own override them.
            existing = {
                self._key(variable): factor
                for variable in self.model.weights
                for key, factor in optimizer.multipliers.items()
                if learning_rate_multipliers.matches(key, variable.path)
            }
            multipliers = {**existing, **multipliers}
            optimizer = optimizer.inner_optimizer
        # strict=False: the groups' variables are frozen, hence not trained, until their epoch.
        return LearningRateMultipliers(optimizer, multipliers, strict=False)

    def on_epoch_begin(self, epoch, logs=None):
        if self._resumed_at is not None:
            if self._resumed_at != epoch:
                warnings.warn(
                    f"Unfreeze set the layers for a resume at epoch {self._resumed_at + 1}, read from "
                    f"BackupAndRestore's checkpoint, but training starts at epoch {epoch + 1}: the optimizer "
                    "state of the checkpoint may not have been loaded (see Keras's warning above).",
                    stacklevel=2,
                )
            self._resumed_at = None
        changed = self._apply(epoch)
        if self.lr_multiplier is not None and epoch == self.epoch:
            inner = _chain.unwrap(self.model.optimizer)
            inner.learning_rate = _chain.learning_rate(inner) * self.lr_multiplier
        if changed and self.verbose:
            names = ", ".join(layer.name for layer in changed)
            _messages.print_msg(f"\nEpoch {epoch + 1}: Unfreeze unfroze {names}.")
