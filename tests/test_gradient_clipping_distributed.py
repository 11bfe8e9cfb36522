import os

import keras
import pytest

from tests import helpers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute.MirroredStrategy"),
]


@pytest.fixture(scope="module")
def mirrored_run():
    child = os.path.join(os.path.dirname(__file__), "mirrored_child.py")
    return helpers.child_json(helpers.run_child(child, timeout=600))


def test_statistics_are_those_of_the_global_batch(mirrored_run):
    assert mirrored_run["replicas"] == 2
    single, mirrored = mirrored_run["ours"]["single"], mirrored_run["ours"]["mirrored"]
    for key in ("grad_norm", "grad_norm_max", "grad_norm_clipped", "grad_clip_rate"):
        assert mirrored[key] == pytest.approx(single[key], rel=1e-5), key
    assert single["grad_clip_rate"] == 1.0  # every step clipped: the comparison below means something


def test_clipping_the_global_gradient_matches_one_device(mirrored_run):
    # As close as unclipped training across devices, which only differs by summation order.
    assert mirrored_run["unclipped"]["max_weight_difference"] < 1e-5
    assert mirrored_run["ours"]["max_weight_difference"] < 1e-5


def test_keras_global_clipnorm_clips_per_replica(mirrored_run):
    # Keras clips each replica's share before summing them: up to replicas × threshold per step.
    assert mirrored_run["keras"]["max_weight_difference"] > 1e-2
