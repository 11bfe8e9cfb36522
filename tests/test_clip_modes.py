"""Each clipping mode on its own (`keras_tricks.optimizers._clip_modes`), against float64 NumPy.

A mode is one class: the arguments it reads, its variables, its measure and its clip. Here each is
driven alone, eagerly, on gradients of every shape (scalar, one element, kernel, a `None`); in the
wrapper and inside `model.fit` they are checked by tests/test_gradient_clipping.py and
tests/test_exact_in_fit.py.
"""

import inspect

import keras
import numpy as np
import pytest

from keras_tricks.optimizers import GradientClipping, _clip_modes, gradient_clipping
from tests import float64

ARGUMENTS = {"threshold": 1.0, "clipping": 0.05, "eps": 1e-3, "percentile": 50.0, "window": 3}


def test_every_mode_gradient_clipping_takes_has_one_class_and_reads_only_its_arguments():
    parameters = set(inspect.signature(GradientClipping).parameters)
    assert set(_clip_modes.MODES) == set(gradient_clipping.MODES)
    for name, mode in _clip_modes.MODES.items():
        assert mode.name == name
        assert set(mode.arguments) <= parameters


@pytest.mark.parametrize("name", list(_clip_modes.MODES))
def test_a_mode_alone_clips_as_float64_does(name):
    rng = np.random.default_rng(0)
    shapes = [(), (1,), (4, 3)]
    weights = [rng.normal(size=s).astype("float32") for s in shapes] + [np.ones(2, "float32")]
    # The mode a wrapper made (its variables, AutoClip's window, built into the wrapper), driven alone.
    wrapper = GradientClipping(keras.optimizers.SGD(1.0), name, **ARGUMENTS)
    wrapper.build([keras.Variable(w) for w in weights])
    mode = wrapper._mode
    assert type(mode) is _clip_modes.MODES[name]
    history = []
    for scale in (3.0, 0.5, 10.0, 1e30):  # AutoClip's window fills and turns over
        grads = [(rng.normal(size=s) * scale).astype("float32") for s in shapes] + [None]
        history = (history + [float64.global_norm(grads)])[-ARGUMENTS["window"] :]
        expected, changed, clipped_norm = float64.clip(
            name,
            [None if g is None else g.astype("float64") for g in grads],
            weights,
            history=history,
            **{k: v for k, v in ARGUMENTS.items() if k != "window"},
        )
        tensors = [None if g is None else keras.ops.convert_to_tensor(g) for g in grads]
        measure = mode.measure(tensors)
        clip = mode.clip(tensors, [keras.ops.convert_to_tensor(w) for w in weights], measure, True)
        got = clip.clip()
        assert got[-1] is None
        for g, e in zip(got[:-1], expected[:-1], strict=True):
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(g), e, rtol=1e-6, atol=1e-12 * np.abs(e).max()
            )
        assert bool(keras.ops.convert_to_numpy(clip.changed)) == changed
        if clip.clipped_norm is not None:  # None: the wrapper measures the clipped gradients
            assert float(keras.ops.convert_to_numpy(clip.clipped_norm)) == pytest.approx(
                clipped_norm, rel=1e-6
            )
