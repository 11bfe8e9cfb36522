"""Where keras-tricks callbacks stand in `fit`'s callback list, whatever order the user wrote.

Keras calls the callbacks of a `fit` in list order, with one `logs` dict per epoch end, and several
keras-tricks callbacks must act before some of Keras's:

- loggers (`GradientNormLogger`, `LearningRateLogger`, `ActivationStats`): their keys must be in `logs`
  before any callback reads them (`CSVLogger`, `TensorBoard`, a user's logger, `History`);
- callbacks that write keys as they decide (`EarlyStopping` with smoothing, `ReduceLROnPlateau`'s
  `learning_rate`): before Keras's `CSVLogger`, `TensorBoard`, `RemoteMonitor`, `ProgbarLogger`, `History`;
- resumable callbacks (`EarlyStopping`, `ReduceLROnPlateau`, `SWA`, `Unfreeze`): before
  `keras.callbacks.BackupAndRestore`, so that the checkpoint written at an epoch's end holds what they
  decided at that epoch's end (their own state is written before it), and so that `Unfreeze` has set
  the layers before the checkpoint is loaded at the beginning of a resumed `fit`.

Keras gives a callback no public handle on the list it is in, only `set_model`, which the list calls
on each of its callbacks. `arrange` finds the list in the frame that called `set_model` (a
`keras.callbacks.CallbackList` holding the callback; nothing private of Keras is read) and rebinds its
`callbacks` attribute to the arranged order: the loggers first, then everything else in the user's
order, with Keras's log readers moved after the last keras-tricks callback that writes logs and each
`BackupAndRestore` moved after the last resumable keras-tricks callback. Nothing else moves. If the
list cannot be found, `check_arranged` (at train begin) warns and says which order to use.
"""

import sys
import warnings

import keras

# Keras's callbacks that only read `logs` at epoch end.
_LOG_READERS = (
    keras.callbacks.CSVLogger,
    keras.callbacks.TensorBoard,
    keras.callbacks.RemoteMonitor,
    keras.callbacks.ProgbarLogger,
    keras.callbacks.History,
)

LOGGER = "logger"  # writes logs, reads none: goes first
WRITER = "writer"  # writes logs while it decides from them: Keras's readers go after it
RESUMABLE = "resumable"  # keeps state across a resume: BackupAndRestore goes after it


def roles(callback):
    """The roles (`LOGGER`, `WRITER`, `RESUMABLE`) a keras-tricks callback declares."""
    return getattr(callback, "_keras_tricks_roles", ()) if isinstance(callback, Arranged) else ()


def _find_list(callback):
    """The `CallbackList` whose `set_model` (or other hook) is calling `callback`, or `None`."""
    frame = sys._getframe(2)
    for _ in range(6):
        if frame is None:
            return None
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.CallbackList) and any(c is callback for c in owner.callbacks):
            return owner
        frame = frame.f_back
    return None


def _move_after(order, movers, anchor):
    """`order` with the callbacks `movers` selects that stand before the last `anchor` moved just after it."""
    last = max((i for i, c in enumerate(order) if anchor(c)), default=-1)
    if last < 0:  # nothing to move after: order[:-1] would move the movers behind the last callback
        return order
    moved = [c for c in order[:last] if movers(c)]
    if not moved:
        return order
    kept = [c for c in order if not any(c is m for m in moved)]
    at = next(i for i, c in enumerate(kept) if c is order[last]) + 1
    return kept[:at] + moved + kept[at:]


def arranged(callbacks):
    """The order in which a `fit` should call `callbacks` (see the module docstring)."""
    order = [c for c in callbacks if LOGGER in roles(c)] + [c for c in callbacks if LOGGER not in roles(c)]
    order = _move_after(
        order, lambda c: isinstance(c, _LOG_READERS), lambda c: bool({LOGGER, WRITER} & set(roles(c)))
    )
    return _move_after(
        order, lambda c: isinstance(c, keras.callbacks.BackupAndRestore), lambda c: RESUMABLE in roles(c)
    )


def arrange(callback):
    """Arranges the list that is setting `callback` up; returns its callbacks (`None` if not found).

    Call it from the callback's `set_model`.
    """
    callback_list = _find_list(callback)
    if callback_list is None:
        return None
    order = arranged(callback_list.callbacks)
    if any(a is not b for a, b in zip(order, callback_list.callbacks, strict=True)):
        # Rebound, not changed in place: the list's own loop over the old one goes on undisturbed.
        callback_list.callbacks = order
    return order


def check_arranged(callback):
    """Warns if the list calling `callback` now is not in the arranged order (`arrange` could not run)."""
    callback_list = _find_list(callback)
    if callback_list is None:
        return
    order = arranged(callback_list.callbacks)
    if any(a is not b for a, b in zip(order, callback_list.callbacks, strict=True)):
        names = ", ".join(type(c).__name__ for c in order)
        warnings.warn(
            f"{type(callback).__name__}: the callbacks of this fit are not in an order where every "
            "keras-tricks log key and state reaches the callbacks that read it; list them as "
            f"[{names}].",
            stacklevel=3,
        )


class Arranged:
    """Mixin of keras-tricks callbacks: arranges the callback list in `set_model` (`_peers` is the list).

    A subclass declares its roles in `_keras_tricks_roles`, a tuple of `LOGGER`, `WRITER`, `RESUMABLE`.
    """

    _keras_tricks_roles = ()
    _peers = None

    def set_model(self, model):
        super().set_model(model)
        self._peers = arrange(self)

    def set_params(self, params):
        super().set_params(params)
        # The first keras-tricks callback of the list checks the fit against a OneCycle schedule.
        first = next((c for c in self._peers or [self] if isinstance(c, Arranged)), self)
        if first is self and params and getattr(self, "model", None) is not None and self.model.optimizer:
            from keras_tricks.schedules.one_cycle import check_covers_fit

            check_covers_fit(self.model.optimizer, params.get("epochs"), params.get("steps"))
