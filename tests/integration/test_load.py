"""A short form of `benchmarks/load.py`: steps and reads leave the variables and the memory flat.

4,000 steps of a tiny model with `GradientClipping` + `GradientNormLogger(every_n_steps=100)`, measured
every 500 steps (8-16 s per backend here). The full 50,000-step figures are in `docs/guarantees.md`.
The first 2,000 steps warm up (tracing, allocator pools: +1.0 to +3.1 MiB measured from the first
checkpoint); the last 2,000 must not grow by more than `RSS_BOUND_MIB`, against +0.0 (jax), +0.3
(tensorflow) and +0.01 MiB (torch) measured (something kept per
read, a retraced function or a copy of the statistics, would add up over the 20 reads of that half; a
variable created per read shows in the counts).
"""

import keras
import pytest

from benchmarks import load

STEPS, EVERY, CHECKPOINT = 4_000, 100, 500
RSS_BOUND_MIB = 4.0


@pytest.fixture(scope="module")
def checkpoints():
    keras.backend.clear_session(free_memory=False)
    return load.measure(steps=STEPS, every=EVERY, checkpoint=CHECKPOINT)["checkpoints"]


def test_the_logger_read_every_100_steps(checkpoints):
    assert [c["step"] for c in checkpoints] == list(range(CHECKPOINT, STEPS + 1, CHECKPOINT))
    assert [c["reads"] for c in checkpoints] == [c["step"] // EVERY for c in checkpoints]


def test_variable_counts_do_not_grow(checkpoints):
    for key in ("weights", "optimizer_variables", "live_variables"):
        assert len({c[key] for c in checkpoints}) == 1, (key, [c[key] for c in checkpoints])
    # 2 Dense layers (kernel, bias); the wrapper's iteration, learning rate (both unused, as in
    # LossScaleOptimizer), sums and running max, then SGD's iteration and learning rate.
    assert checkpoints[0]["weights"] == 4
    assert checkpoints[0]["optimizer_variables"] == 6


def test_resident_memory_stays_flat_after_warm_up(checkpoints):
    half = len(checkpoints) // 2
    growth = checkpoints[-1]["rss_mib"] - checkpoints[half - 1]["rss_mib"]
    assert growth <= RSS_BOUND_MIB, [c["rss_mib"] for c in checkpoints]
