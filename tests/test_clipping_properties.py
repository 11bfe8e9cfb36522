"""Property tests of GradientClipping's maths at the edges (hypothesis), against a float64 NumPy reference.

Random lists of gradients: zero-size, scalar, vector, matrix and 4-D, a sparse one on tensorflow (an
`tf.IndexedSlices` with repeated rows), some `None`, every magnitude from 1e-30 to 1e30. In every mode,
one step of `GradientClipping(SGD(1.0))` must apply the float64 reference's clipped gradient, log the
reference's norms, never skip a finite step, and keep the clipped norm within the threshold. Then a
large gradient (the book MLP's first kernel) across its exact range, where the sums switch scales, and
below it, down to float32's smallest normal.
"""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_tricks.optimizers import GradientClipping, _clip_modes
from tests import float64

SHAPES = [(0,), (), (3,), (2, 3), (2, 2, 2, 3), "sparse"]
TF = keras.backend.backend() == "tensorflow"


@st.composite
def _case(draw):
    shapes = draw(st.lists(st.sampled_from(SHAPES if TF else SHAPES[:-1]), min_size=1, max_size=4))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    grads, weights, sparse = [], [], []
    for shape in shapes:
        scale = 10.0 ** draw(st.floats(-30, 30))
        dense_shape = (4, 2) if shape == "sparse" else shape
        weights.append(rng.normal(size=dense_shape).astype("float32"))
        if draw(st.booleans()) and draw(st.booleans()):
            grads.append(None)
            sparse.append(None)
            continue
        if shape == "sparse":
            indices = rng.integers(0, 4, size=5)  # repeated rows: the dense form sums them
            rows = (rng.normal(size=(5, 2)) * scale).astype("float32")
            dense = np.zeros((4, 2), "float64")
            np.add.at(dense, indices, rows.astype("float64"))
            grads.append(dense)
            sparse.append((indices, rows))
        else:
            grads.append((rng.normal(size=shape) * scale).astype("float32").astype("float64"))
            sparse.append(None)
    if all(g is None for g in grads):  # (Keras's optimizers refuse a step without any gradient)
        grads[0] = np.zeros(weights[0].shape)
        sparse[0] = None
    mode = draw(st.sampled_from(["value", "norm", "global_norm", "adaptive", "percentile", None]))
    threshold = 10.0 ** draw(st.floats(-3, 3))
    return mode, threshold, grads, weights, sparse


def _as_given(grad, sparse):
    if sparse is None:
        return None if grad is None else grad.astype("float32")
    import tensorflow as tf

    indices, rows = sparse
    return tf.IndexedSlices(tf.constant(rows), tf.constant(indices), tf.constant([4, 2]))


@pytest.mark.filterwarnings("ignore:Gradients do not exist")
@settings(max_examples=120, deadline=None)
@given(case=_case())
def test_one_step_equals_the_float64_reference_at_every_magnitude(case):
    mode, threshold, grads, weights, sparse = case
    clipping, eps = 0.05, 1e-3
    variables = [keras.Variable(w) for w in weights]
    optimizer = GradientClipping(
        keras.optimizers.SGD(1.0), mode, threshold=threshold, clipping=clipping, eps=eps
    )
    optimizer.apply([_as_given(g, s) for g, s in zip(grads, sparse, strict=True)], variables)
    norm = float64.global_norm(grads)
    # AutoClip's first step: the percentile of this one norm, which does not exceed itself.
    expected, _, _ = float64.clip(mode, grads, weights, threshold, clipping, eps, history=[norm])
    stats = {k: float(keras.ops.convert_to_numpy(v)) for k, v in optimizer.statistics().items()}
    assert stats["grad_nonfinite_steps"] == 0  # every element is finite: never skipped
    assert stats["grad_steps"] == 1
    np.testing.assert_allclose(stats["grad_norm"], norm, rtol=1e-5)
    for variable, before, clipped in zip(variables, weights, expected, strict=True):
        after = keras.ops.convert_to_numpy(variable).astype("float64")
        if clipped is None:
            np.testing.assert_array_equal(after, before)
            continue
        # The update, w − w', is the clipped gradient (to float32 rounding of w and of the update).
        scale = np.abs(before).max(initial=0.0) + np.abs(clipped).max(initial=0.0)
        np.testing.assert_allclose(before - after, clipped, rtol=1e-5, atol=1e-6 * scale)
    if mode in ("norm", "global_norm", "value"):
        present = [c for c in expected if c is not None and c.size]
        applied = [
            before - keras.ops.convert_to_numpy(v)
            for v, before, c in zip(variables, weights, expected, strict=True)
            if c is not None and c.size
        ]
        if mode == "global_norm" and applied:
            # w − w' carries the float32 rounding of w (up to ~6e-8·|w| per element), as above.
            rounding = (
                1e-6
                * max(np.abs(w).max(initial=0.0) for w in weights)
                * np.sqrt(sum(a.size for a in applied))
            )
            applied_norm = np.sqrt(sum(np.sum(a.astype("float64") ** 2) for a in applied))
            assert applied_norm <= threshold * (1 + 1e-5) + rounding or norm <= threshold
        if mode == "value":
            assert all(np.abs(c).max(initial=0.0) <= threshold for c in present)


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="torch makes no trainable integer variable")
@pytest.mark.parametrize("mode", ["value", "norm", "global_norm", "adaptive", "percentile", None])
def test_an_integer_variable_gets_what_the_inner_optimizer_alone_gives_it(mode):
    # SGD's `apply` adds an integer gradient to an integer variable; the wrapper hands it over as it
    # came, and measures and clips the floating-point gradients alone.
    def variables():
        return [keras.Variable(np.zeros(2, "int32")), keras.Variable(np.ones(2, "float32"))]

    grads = [np.array([3, 4], "int32"), np.array([30.0, 40.0], "float32")]
    ours, alone = variables(), variables()
    optimizer = GradientClipping(keras.optimizers.SGD(1.0), mode, threshold=1.0, percentile=50.0)
    optimizer.apply(grads, ours)
    keras.optimizers.SGD(1.0).apply(grads, alone)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours[0]), keras.ops.convert_to_numpy(alone[0]))
    [clipped], _, _ = float64.clip(
        mode, [grads[1].astype("float64")], [np.ones(2)], percentile=50.0, history=[50.0]
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours[1]), 1.0 - clipped, rtol=1e-6)
    stats = optimizer.statistics()
    assert float(stats["grad_norm"]) == pytest.approx(50.0)  # the integer gradient is not measured
    assert float(stats[f"grad_norm/{ours[0].path}"]) == 0.0


@settings(max_examples=60, deadline=None)
@given(
    window=st.integers(1, 6),
    values=st.lists(
        st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0, 3.0, 1e30, float("inf")]), min_size=1, max_size=20
    ),
)
def test_the_sorted_autoclip_window_is_the_sorted_ring_buffer(window, values):
    # The sorted copy AutoClip keeps, updated in linear time, against np.sort of the last `window`
    # values (repeated values and +Inf included), and its percentiles against np.percentile.
    from keras_tricks.optimizers import clipping

    ordered = keras.ops.zeros((window,))
    history = np.zeros(window, "float32")
    for count, value in enumerate(values):
        full = count >= window
        leaving = history[count % window]
        ordered = clipping.sorted_update(
            ordered,
            min(count, window),
            (keras.ops.convert_to_tensor(full), keras.ops.convert_to_tensor(leaving)),
            keras.ops.convert_to_tensor(np.float32(value)),
        )
        history[count % window] = value
        last = np.sort(np.asarray(values[max(0, count + 1 - window) : count + 1], "float32"))
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(ordered)[: len(last)], last)
        if np.all(np.isfinite(last)):
            got = clipping.percentile_of_sorted(ordered, count + 1, 30.0)
            np.testing.assert_allclose(keras.ops.convert_to_numpy(got), np.percentile(last, 30.0), rtol=1e-6)


def _kernel_and_bias(scale, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=shape) * scale).astype("float32") for shape in [(784, 300), (300,)]]


def _measured(grads, jit=False):
    from keras_tricks.optimizers import clipping

    tensors = [keras.ops.convert_to_tensor(g) for g in grads]
    if jit and keras.backend.backend() == "jax":
        import jax

        return jax.jit(clipping.measure)(tensors)
    return clipping.measure(tensors)


# The book MLP's first kernel and its bias, from below the plain sums' range (squares flushed to zero)
# to above it (squares past float32's largest), across the edges where the plain sums stop being exact.
@pytest.mark.parametrize("scale", [1e-28, 1e-20, 1e-10, 1.0, 3e4, 1e5, 2.7e5, 2.8e5, 3e5, 1e10, 1e19, 1e33])
@pytest.mark.parametrize("jit", [False, True])
def test_the_norms_of_a_large_gradient_equal_float64_from_1e_25_to_the_float32_limit(scale, jit):
    grads = _kernel_and_bias(scale)
    measure = _measured(grads, jit)
    expected = [np.sqrt(np.sum(g.astype("float64") ** 2)) for g in grads]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(measure.norms), expected, rtol=1e-6)
    global_norm = float(keras.ops.convert_to_numpy(measure.global_norm))
    np.testing.assert_allclose(global_norm, np.sqrt(sum(n**2 for n in expected)), rtol=1e-6)
    assert bool(keras.ops.convert_to_numpy(measure.finite))


def test_a_global_norm_near_the_float32_limit_is_finite_and_exact():
    # The squared norms overflow and the global norm comes from the norms; XLA's division by a norm
    # above 2¹²⁶ once read every ratio as 0 (its reciprocal flushed to zero), and the global norm as 0.
    from keras_tricks.optimizers import clipping

    norms = np.array([2.77e38, 5.6e37, 1.9e37, 1.3e35, 0.0], "float32")
    expected = np.sqrt(np.sum(norms.astype("float64") ** 2))
    got = float(keras.ops.convert_to_numpy(clipping.combined_norm(keras.ops.convert_to_tensor(norms))))
    assert got == pytest.approx(expected, rel=1e-6)


def test_a_kernel_of_elements_near_float32s_smallest_normal_is_measured_exactly():
    # Elements of ~1e-37 in a 784 × 300 kernel: every square flushes to zero in a plain sum, and the
    # two-scale sums this package once took read such a norm low. Now the norms scaled by their largest
    # element give float64's, and such a gradient is still finite.
    grads = _kernel_and_bias(1e-37)
    for jit in (False, True):
        measure = _measured(grads, jit)
        expected = [np.sqrt(np.sum(g.astype("float64") ** 2)) for g in grads]
        finite = [np.abs(g) >= 2.0**-126 for g in grads]  # subnormal elements read as 0 on XLA and tf
        expected_normal = [
            np.sqrt(np.sum(np.where(f, g, 0).astype("float64") ** 2))
            for g, f in zip(grads, finite, strict=True)
        ]
        got = keras.ops.convert_to_numpy(measure.norms)
        assert np.all(
            (np.abs(got - expected) <= 1e-6 * np.asarray(expected))
            | (np.abs(got - expected_normal) <= 1e-6 * np.asarray(expected_normal))
        )
        assert bool(keras.ops.convert_to_numpy(measure.finite))


@pytest.mark.parametrize("scale", [1e-20, 1e-3, 1.0, 3e5, 1e19, 1e33])
def test_measure_unitwise_gives_the_norms_of_measure_and_the_unit_norms_in_one_pass(scale):
    # AGC's measurement: each gradient's sums taken per unit and added up. Against `measure` and
    # `unitwise_norms` (and float64), in another summation order: within 1e-6, not bit for bit.
    from keras_tricks.optimizers import clipping

    rng = np.random.default_rng(3)
    shapes = [(784, 300), (300,), (3, 3, 8, 16), ()]
    grads = [(rng.normal(size=shape) * scale).astype("float32") for shape in shapes] + [None]
    tensors = [None if g is None else keras.ops.convert_to_tensor(g) for g in grads]
    together = clipping.measure_unitwise(tensors)
    apart = clipping.measure(tensors)
    expected = [0.0 if g is None else np.sqrt(np.sum(g.astype("float64") ** 2)) for g in grads]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(together.norms), expected, rtol=1e-6)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(together.norms), keras.ops.convert_to_numpy(apart.norms), rtol=1e-6
    )
    assert float(keras.ops.convert_to_numpy(together.global_norm)) == pytest.approx(
        float(keras.ops.convert_to_numpy(apart.global_norm)), rel=1e-6
    )
    assert bool(keras.ops.convert_to_numpy(together.finite))
    assert together.units[-1] is None and apart.units is None
    for g, units in zip(tensors[:-1], together.units[:-1], strict=True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(units),
            keras.ops.convert_to_numpy(clipping.unitwise_norms([g])[0]),
            rtol=1e-6,
        )


def test_measure_unitwise_finds_a_nan():
    from keras_tricks.optimizers import clipping

    grads = [np.ones((4, 3), "float32"), np.array([1.0, np.nan], "float32")]
    measured = clipping.measure_unitwise([keras.ops.convert_to_tensor(g) for g in grads])
    assert not bool(keras.ops.convert_to_numpy(measured.finite))
    assert np.isnan(keras.ops.convert_to_numpy(measured.norms)[1])


def _with_dead_and_tiny_units(seed):
    # A kernel and a bias with a unit of zeros (a dead ReLU unit, a zero bias) and a unit of elements
    # of 1e-21, whose squares flush to zero in a plain float32 sum (tensorflow's plain branch).
    rng = np.random.default_rng(seed)
    kernel = (rng.normal(size=(784, 300)) * 1e-2).astype("float32")
    kernel[:, 0] = 0.0
    kernel[:, 1] = (rng.normal(size=784) * 1e-21).astype("float32")
    bias = (rng.normal(size=300) * 1e-2).astype("float32")
    return [kernel, bias, np.zeros(300, "float32")]


@pytest.mark.parametrize("floor", [0.0, 1e-5])
def test_unit_norms_are_exact_above_the_floor_and_never_above_it_below(floor):
    # `floor` (AGC's clipping · eps) lets tensorflow keep its plain sums where a unit's norm cannot
    # exceed it; every other unit norm, and every gradient norm, is float64's.
    from keras_tricks.optimizers import clipping

    arrays = _with_dead_and_tiny_units(0)
    tensors = [keras.ops.convert_to_tensor(a) for a in arrays]
    for units in (
        clipping.measure_unitwise(tensors, floor=floor).units,
        clipping.unitwise_norms(tensors, floor=floor),
    ):
        for array, got in zip(arrays, units, strict=True):
            got = keras.ops.convert_to_numpy(got).ravel()
            expected = float64.unit_norm(array).ravel()
            above = expected > floor
            np.testing.assert_allclose(got[above], expected[above], rtol=1e-6)
            assert np.all(got[~above] <= floor)
            if floor == 0.0:  # the 1e-21 unit, exact
                np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("eps", [1e-3, 1e-30])
def test_adaptive_clipping_of_dead_and_tiny_units_equals_float64(eps):
    # With eps=1e-30 the weights' zero unit sets a limit of 1e-32, which the gradient's 1e-21 unit
    # exceeds: it must be clipped, so its norm must be read exactly (tensorflow's exact branch); with
    # eps=1e-3 no tiny unit can reach a limit and the plain sums stand.

    grads = _with_dead_and_tiny_units(1)[:2]
    weights = _with_dead_and_tiny_units(2)[::2]  # a kernel with a zero unit, a zero bias
    expected, _, _ = float64.clip("adaptive", grads, weights, clipping=0.01, eps=eps)
    tensors = [keras.ops.convert_to_tensor(a) for a in grads]
    adaptive = _clip_modes.Adaptive(clipping=0.01, eps=eps)
    got = adaptive.clip(
        tensors, [keras.ops.convert_to_tensor(w) for w in weights], adaptive.measure(tensors), True
    ).clip()
    for e, g in zip(expected, got, strict=True):
        # atol: clipped elements below float32's smallest normal (1.2e-38) may flush to zero.
        np.testing.assert_allclose(keras.ops.convert_to_numpy(g), e, rtol=1e-6, atol=2e-38)


def test_a_norm_whose_squares_partly_flush_to_zero_is_exact():
    # A million elements of 1e-19, whose squares fall below float32's smallest normal (flushed to zero
    # by XLA and tensorflow), and one of 1e-15: a plain sum reads 1e-30 and misses 1% of the sum. The
    # norms, the global one and the unit-wise ones must still be float64's (on tensorflow and torch the
    # plain sums must send this step to the exact branch: `clipping._smallest_exact_sum`).
    from keras_tricks.optimizers import clipping

    g = np.full((1000, 1000), 1e-19, "float32")
    g[0, 0] = 1e-15
    expected = np.sqrt(np.sum(g.astype("float64") ** 2))
    tensor = keras.ops.convert_to_tensor(g)
    # rtol 3e-6: float32 rounding of sums of many terms, most below float32's epsilon of the largest
    # (the plain sums of before read 5e-3 low).
    for measured in (clipping.measure([tensor]), clipping.measure_unitwise([tensor])):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(measured.norms), [expected], rtol=3e-6)
        assert float(keras.ops.convert_to_numpy(measured.global_norm)) == pytest.approx(expected, rel=3e-6)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clipping.measure_unitwise([tensor]).units[0]).ravel(),
        float64.unit_norm(g).ravel(),
        rtol=3e-6,
    )
