"""A `.keras` file holding every keras-tricks object, saved on each backend, loads on each other backend
(with the weights and optimizer state saved) and continues training: 3 × 3, in processes of their own.

Keras itself cannot do this for a plain model saved on torch (it records torch's own optimizer class,
which then fails at the first step elsewhere): pinned below, and stated in docs/guarantees.md.
"""

import math
import os

import keras
import pytest

from tests import helpers

CHILD = os.path.join(os.path.dirname(__file__), "cross_backend_child.py")
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKENDS = ("tensorflow", "jax", "torch")

# It spans the three backends itself: run once, in the torch session of the suite (the quickest).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(keras.backend.backend() != "torch", reason="spans every backend; run on torch only"),
]


def _child(backend, *args):
    return helpers.run_child(CHILD, CHECKOUT, *map(str, args), backend=backend)


def test_every_object_moves_between_every_pair_of_backends(tmp_path):
    files = {backend: tmp_path / f"saved-on-{backend}.keras" for backend in BACKENDS}
    for backend, path in files.items():
        _child(backend, "save", path)
    for backend in BACKENDS:
        results = helpers.child_json(_child(backend, "load", *files.values()))
        for saved_on, path in files.items():
            result = results[str(path)]
            where = f"saved on {saved_on}, loaded on {backend}"
            assert result["same"], where
            assert result["error"] is None and math.isfinite(result["loss"]), (where, result)
            assert all(
                not module.startswith("keras.src.backend.torch") or backend == "torch"
                for module in result["chain"]
            ), (where, result["chain"])


def test_kerass_own_plain_file_saved_on_torch_fails_elsewhere_a_keras_limitation(tmp_path):
    path = tmp_path / "plain.keras"
    _child("torch", "save", path, "plain")
    result = helpers.child_json(_child("tensorflow", "load", path))[str(path)]
    assert result["chain"] == ["keras.src.backend.torch.optimizers.torch_adam.Adam"]
    assert result["error"].startswith("TypeError: expected Tensor as element 0")
