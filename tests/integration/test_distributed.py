"""The combined recipe on two devices equals it on one, on the engines Keras uses.

tensorflow: `tf.distribute.MirroredStrategy` on two logical CPU devices; jax:
`keras.distribution.DataParallel` on two host devices (`--xla_force_host_platform_device_count=2`). Each
runs in a subprocess (`distributed_child.py`: devices are set before the framework starts) that trains
the same model on the same global batches both ways. torch has no Keras distribution engine.

`Unfreeze` replaces the optimizer in the middle of `fit`; on tensorflow it must build the new one inside
the model's strategy scope (regression: built outside it, its slots were not mirrored — one copy instead of
one per replica — and the two-device run stopped after 2 epochs instead of 6).
"""

import os

import keras
import pytest

from tests import helpers
from tests.integration import combined

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        keras.backend.backend() not in ("tensorflow", "jax"),
        reason="Keras 3 has no distribution engine for torch (tf.distribute on tensorflow, "
        "keras.distribution on jax only)",
    ),
]


@pytest.fixture(scope="module")
def runs():
    child = os.path.join(os.path.dirname(__file__), "distributed_child.py")
    return helpers.child_json(helpers.run_child(child, keras.backend.backend(), timeout=900))


def test_the_run_was_really_on_two_devices(runs):
    assert runs["devices"] == 2
    assert runs["single"]["weight_copies"] == runs["single"]["slot_copies"] == 1
    assert runs["distributed"]["weight_copies"] == runs["distributed"]["slot_copies"] == 2


def test_norms_clipping_schedule_and_stopping_equal_one_device(runs):
    combined.assert_same_run(runs["distributed"], runs["single"], history_keys=("grad_norm", "grad_norm_max"))
