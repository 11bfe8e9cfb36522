"""A fit with every resumable piece, killed with SIGKILL at chosen and random moments, then resumed.

Each kill runs `resume_child.py` in a process of its own that kills itself (by its own pid) at the
moment asked, then runs it again in the same folder: `keras.callbacks.BackupAndRestore` and the
keras-tricks callbacks' `backup_dir`s resume the fit. The resumed run must equal the uninterrupted one
bit for bit: weights, optimizer variables, stopping and best epochs, SWA's epochs, the learning rate each
epoch ran with, and the logs of the epochs it ran; and leave no state file behind. The callbacks are
shuffled into another order for every run (the order must not matter). The windows are the moments
between the writes of one epoch's end (each keras-tricks state, BackupAndRestore's checkpoint); the
random moments are batches. `KERAS_TRICKS_KILL_SEED` replays a run's random choices (it is printed).
"""

import concurrent.futures
import json
import os
import random
import time

import pytest

from tests import helpers

pytestmark = pytest.mark.slow

CHILD = os.path.join(os.path.dirname(__file__), "resume_child.py")
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED = int(os.environ.get("KERAS_TRICKS_KILL_SEED", time.time_ns() % 1_000_000))
CASES = ["float-patience", "float-gl", "schedule-pq", "schedule-up"]
EPOCHS = 7  # resume_child.EPOCHS
# Scenarios that once failed, run every time as (case, kill, order): with this order, ReduceLROnPlateau
# retraces the train step for a schedule factor while Unfreeze keeps functions compiled for other
# trainabilities (a kept jax function alive then handed its old trace, old factor included, to the new one).
FIXED = [("schedule-pq", "inside_state_write:4", 271)]
WINDOWS = [
    "before_checkpoint",
    "between_saves",
    "inside_state_write",
    "checkpoint_written",
    "after_checkpoint",
]


def _run(workdir, case, order, kill):
    """Runs the child; returns its exit code (SIGKILL: -9)."""
    out = helpers.run_child(CHILD, CHECKOUT, workdir, case, str(order), kill, allowed=(0, -9))
    return out.returncode


def _result(workdir):
    with open(os.path.join(workdir, "result.json")) as f:
        return json.load(f)


def _scenarios(rng, epochs_run):
    """Each window in a case (cycling), and a random batch in each case, at random epochs of its run."""
    for index, window in enumerate(WINDOWS):
        case = CASES[index % len(CASES)]
        epochs = epochs_run[case]
        last = (
            epochs - 2 if window == "after_checkpoint" else epochs - 1
        )  # the epoch must end (and one follow)
        yield case, f"{window}:{rng.randrange(0, last + 1)}"
    for case in CASES:
        yield case, f"batch:{rng.randrange(0, epochs_run[case])}:{rng.randrange(0, 8)}"
    # The fit that stopped early, killed after its last checkpoint and before it ended.
    stopping = next(case for case in CASES if epochs_run[case] < EPOCHS)
    yield stopping, f"checkpoint_written:{epochs_run[stopping] - 1}"


def _killed_then_resumed(workdir, case, kill, order):
    os.makedirs(workdir)
    assert _run(workdir, case, order, kill) == -9, f"the child was not killed at {kill}"
    assert _run(workdir, case, order + 1, "none") == 0
    return _result(workdir)


def _reference(workdir, case):
    os.makedirs(workdir)
    _run(workdir, case, 0, "none")
    return _result(workdir)


def test_every_kill_resumes_as_the_uninterrupted_run(tmp_path):
    rng = random.Random(SEED)
    print(f"KERAS_TRICKS_KILL_SEED={SEED}")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        references = dict(
            zip(
                CASES,
                pool.map(lambda case: _reference(tmp_path / f"reference-{case}", case), CASES),
                strict=True,
            )
        )
        epochs_run = {case: len(result["history"]["loss"]) for case, result in references.items()}
        assert all(epochs >= 3 for epochs in epochs_run.values()), epochs_run
        scenarios = list(_scenarios(rng, epochs_run))
        runs = {
            (case, kill): pool.submit(
                _killed_then_resumed,
                tmp_path / f"{case}-{kill.replace(':', '-')}",
                case,
                kill,
                rng.randrange(1, 999),
            )
            for case, kill in scenarios
        }
        runs.update(
            {
                (case, kill + " (fixed)"): pool.submit(
                    _killed_then_resumed, tmp_path / f"fixed-{index}", case, kill, order
                )
                for index, (case, kill, order) in enumerate(FIXED)
            }
        )
        for (case, kill), future in runs.items():
            resumed, reference = future.result(), references[case]
            where = f"{case}, killed at {kill} (KERAS_TRICKS_KILL_SEED={SEED}, order {resumed['order']})"
            assert resumed["weights"] == reference["weights"], where
            assert resumed["optimizer_variables"] == reference["optimizer_variables"], where
            for key in ("stopped_epoch", "best_epoch", "averaged_epochs", "rates"):
                assert resumed[key] == reference[key], (key, where)
            for key, values in resumed["history"].items():  # the epochs the resumed run ran
                assert values == reference["history"][key][-len(values) :], (key, where)
            assert resumed["leftovers"] == ["rates.jsonl"], where
