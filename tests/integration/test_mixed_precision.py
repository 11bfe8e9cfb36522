"""`GradientClipping` under the `mixed_float16` policy, with Keras's `LossScaleOptimizer` around it.

`tests/test_gradient_clipping.py::test_mixed_precision_statistics_are_on_unscaled_gradients` checks the
mean norm with the loss-scale optimizer `model.compile` adds; here every statistic, the clip decisions,
the optimizer built by hand, and the overflow steps are checked against Keras's own count.
`LossScaleOptimizer` inside `GradientClipping` is refused at construction
(`test_gradient_clipping.py::test_bad_inner_optimizer`): the wrapper would see scaled gradients, and
`model.compile` would put a second loss-scale optimizer around it.

One batch repeated with learning rate 0: every step has the gradient of the float32 reference. The loss
scale starts at 2¹⁵, too high for these gradients in float16, so `LossScaleOptimizer` skips the first
steps (overflow) and halves the scale each time, until the scaled gradients are finite.
"""

import math

import keras
import numpy as np
import pytest

from keras_tricks.callbacks import GradientNormLogger
from keras_tricks.optimizers import GradientClipping

BATCH, STEPS, INITIAL_SCALE = 32, 16, 2.0**15


@pytest.fixture
def mixed_float16():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy(previous)


def _data(nan_step=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 1)) * 10.0).astype("float32")  # large targets: large gradients
    x, y = np.tile(x, (STEPS, 1)), np.tile(y, (STEPS, 1))
    if nan_step is not None:
        x[nan_step * BATCH] = np.nan
    return x, y


def _wrapper():
    # threshold below the gradient norm: every finite step is clipped.
    return GradientClipping(keras.optimizers.SGD(0.0), "global_norm", threshold=1.0)


def _fit(optimizer, x, y):
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(loss="mse", optimizer=optimizer)
    history = model.fit(
        x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[GradientNormLogger()]
    )
    return model, {key: values[0] for key, values in history.history.items()}


@pytest.fixture(scope="module")
def reference():
    keras.backend.clear_session(free_memory=False)
    return _fit(_wrapper(), *_data())[1]


def _keras_overflow_steps(model):
    """Keras's own count of the steps it skipped: each overflow halved the scale (no growth in
    `STEPS` < `dynamic_growth_steps` steps), and only the other steps reached the inner optimizer."""
    scale = float(keras.ops.convert_to_numpy(model.optimizer.dynamic_scale))
    halvings = math.log2(INITIAL_SCALE / scale)
    skipped = STEPS - int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    assert halvings == skipped, (halvings, skipped)
    return skipped


@pytest.mark.parametrize("built_by", ["compile", "hand"])
def test_statistics_are_those_of_unscaled_gradients(built_by, reference, mixed_float16):
    wrapper = _wrapper()
    optimizer = wrapper if built_by == "compile" else keras.optimizers.LossScaleOptimizer(wrapper)
    model, logs = _fit(optimizer, *_data())
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.optimizer.inner_optimizer is wrapper  # one loss-scale optimizer, around ours
    assert model.layers[0].compute_dtype == "float16"
    overflow = _keras_overflow_steps(model)
    assert 0 < overflow < STEPS  # the comparison is of steps after real overflows
    # The statistics of the steps that reached the wrapper, unscaled: the float32 values within
    # float16's precision (with the scale still in them they would be 2^10 and more times larger).
    for key in ("grad_norm", "grad_norm_max"):
        assert logs[key] == pytest.approx(reference[key], rel=2e-3), key
    # Per variable, float16's error is relative to the largest gradients: a small gradient (the output
    # bias's, a sum of large terms that nearly cancel) gets the rounding of the large ones.
    per_variable = [k for k in logs if k.startswith("grad_norm/")]
    expected = [k for k in reference if k.startswith("grad_norm/")]
    assert len(per_variable) == len(expected) == 4
    for key, reference_key in zip(per_variable, expected, strict=True):
        assert logs[key] == pytest.approx(reference[reference_key], abs=2e-2 * reference["grad_norm"]), key
    # Clip decisions: every finite step clipped, to the threshold.
    assert logs["grad_clip_rate"] == reference["grad_clip_rate"] == 1.0
    assert logs["grad_norm_clipped"] == pytest.approx(1.0, rel=1e-3)
    # Overflow steps are Keras's: counted once, by Keras, not again as non-finite steps of ours.
    assert logs["grad_steps"] == STEPS - overflow
    assert logs["grad_nonfinite_steps"] == 0.0


def test_a_nan_batch_is_one_more_keras_overflow_and_no_count_of_ours(mixed_float16):
    clean, clean_logs = _fit(_wrapper(), *_data())
    poisoned, logs = _fit(_wrapper(), *_data(nan_step=STEPS - 2))
    # LossScaleOptimizer sees the NaN first: it skips the step and halves the scale, as for an overflow.
    assert _keras_overflow_steps(poisoned) == _keras_overflow_steps(clean) + 1
    assert logs["grad_steps"] == clean_logs["grad_steps"] - 1
    assert logs["grad_nonfinite_steps"] == 0.0
    assert all(np.isfinite(w).all() for w in poisoned.get_weights())
