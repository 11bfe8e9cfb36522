"""Every keras-tricks training piece in one `fit`, on the current backend (see `combined.py`).

`GradientClipping` (AutoClip) + `OneCycle` + `Unfreeze` + `GradientNormLogger` + `LearningRateLogger` +
`EarlyStopping` together; then the same run with `jit_compile=True` and `steps_per_execution=8`, and
interrupted in the middle of an epoch and resumed by `keras.callbacks.BackupAndRestore`.
"""

import os

import keras
import numpy as np
import pytest

from keras_tricks.schedules import OneCycle
from tests.integration import combined

pytestmark = pytest.mark.slow


class InterruptMidEpoch(keras.callbacks.Callback):
    """Raises `RuntimeError("interrupted")` after batch `batch` of epoch `epoch`: a crash mid-epoch."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self._current = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._current == self.epoch and batch == self.batch:
            raise RuntimeError("interrupted")


@pytest.fixture(scope="module")
def reference():
    keras.backend.clear_session(free_memory=False)
    return combined.summary(*combined.train())


def _assert_same_run(run, reference, rtol):
    assert run["stopped_epoch"] == reference["stopped_epoch"]
    assert run["epochs_run"] == reference["epochs_run"]
    assert run["iterations"] == reference["iterations"]
    assert run["autoclip_count"] == reference["autoclip_count"]
    for key in combined.LOGGED:
        np.testing.assert_allclose(run["history"][key], reference["history"][key], rtol=rtol, err_msg=key)
    for a, b in zip(run["weights"], reference["weights"], strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(run["autoclip_history"], reference["autoclip_history"], rtol=rtol)


def test_every_piece_does_its_job_in_one_fit(reference):
    history = reference["history"]
    epochs = reference["epochs_run"]
    # Early stopping decided on the real validation loss, after the unfreeze and before the last epoch.
    assert 2 <= reference["stopped_epoch"] < combined.EPOCHS - 1
    assert epochs == reference["stopped_epoch"] + 1
    # Every step went through the wrapper and into AutoClip's history (the optimizer was replaced by
    # Unfreeze twice: the history and the iteration count carried over).
    steps_per_epoch = combined.SAMPLES // combined.BATCH
    assert reference["iterations"] == reference["autoclip_count"] == epochs * steps_per_epoch
    # The logged norms are those of every epoch, before and after the unfreeze (regression: the logger
    # kept the optimizer Unfreeze replaced and logged zeros from then on).
    assert all(n > 0 for n in history["grad_norm"]), history["grad_norm"]
    assert all(m >= n for m, n in zip(history["grad_norm_max"], history["grad_norm"], strict=True))
    assert any(r > 0 for r in history["grad_clip_rate"])
    # The learning rate logged is OneCycle's at the end of each epoch.
    schedule = OneCycle(0.05, total_steps=combined.STEPS)
    expected = [float(schedule((e + 1) * steps_per_epoch)) for e in range(epochs)]
    np.testing.assert_allclose(history["learning_rate"], expected, rtol=1e-6)


@pytest.mark.parametrize(
    "compile_kwargs",
    [{"jit_compile": True}, {"steps_per_execution": 8}],
    ids=["jit_compile", "steps_per_execution_8"],
)
def test_compiled_variants_give_the_same_run(compile_kwargs, reference):
    if keras.backend.backend() == "torch" and "steps_per_execution" in compile_kwargs:
        pytest.skip("Keras's torch trainer refuses steps_per_execution > 1 (ValueError)")
    if keras.backend.backend() == "torch" and not os.environ.get("KERAS_TRICKS_TORCH_COMPILE"):
        # It passes, but torch.compile of this step takes 50-100 s of CPU here: opt in.
        pytest.skip("torch.compile takes 50-100 s here; set KERAS_TRICKS_TORCH_COMPILE=1 to run it")
    run = combined.summary(*combined.train(combined.build(**compile_kwargs)))
    # XLA may fuse and reorder float32 sums (tensorflow's default step is not XLA-compiled).
    _assert_same_run(run, reference, rtol=1e-4)


@pytest.mark.parametrize("epoch, batch", [(1, 3), (3, 4)], ids=["before_unfreeze", "after_unfreeze"])
def test_interrupted_mid_epoch_then_resumed_equals_uninterrupted(epoch, batch, reference, tmp_path):
    backup_dir = os.fspath(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="interrupted"):
        combined.train(backup_dir=backup_dir, extra_callbacks=[InterruptMidEpoch(epoch, batch)])
    # A new process: a new model, new callbacks, the same directories.
    keras.backend.clear_session(free_memory=False)
    model, history, stop = combined.train(backup_dir=backup_dir)
    run = combined.summary(model, history, stop)
    assert run["stopped_epoch"] == reference["stopped_epoch"]
    assert run["iterations"] == reference["iterations"]
    assert run["learning_rate"] == pytest.approx(reference["learning_rate"], rel=1e-6)
    assert run["autoclip_count"] == reference["autoclip_count"]
    np.testing.assert_allclose(run["autoclip_history"], reference["autoclip_history"], rtol=1e-6)
    for a, b in zip(run["weights"], reference["weights"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert run["optimizer_variables"].keys() == reference["optimizer_variables"].keys()
    for path, value in reference["optimizer_variables"].items():
        np.testing.assert_allclose(
            run["optimizer_variables"][path], value, rtol=1e-6, atol=1e-7, err_msg=path
        )
    # The resumed fit logs the epochs from the one interrupted on, as the uninterrupted run did.
    for key in combined.LOGGED:
        np.testing.assert_allclose(
            run["history"][key], reference["history"][key][epoch:], rtol=1e-5, err_msg=key
        )
