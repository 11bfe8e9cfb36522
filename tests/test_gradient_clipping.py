import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_tricks.optimizers import GradientClipping, GradientMonitor, _clip_modes, clipping, unwrap
from tests import float64, helpers


def _data(samples=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 1)) * 10.0).astype("float32")  # large targets: large gradients
    return x, y


def _model(optimizer, seed=1, **compile_kwargs):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(loss="mse", optimizer=optimizer, **compile_kwargs)
    return model


def _weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def _assert_weights_close(a, b, atol=1e-6):
    for wa, wb in zip(_weights(a), _weights(b), strict=True):
        np.testing.assert_allclose(wa, wb, atol=atol, rtol=0)


# --- Equivalence with Keras's own clipping ------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, keras_arg, threshold",
    [("global_norm", "global_clipnorm", 1.0), ("norm", "clipnorm", 0.5), ("value", "clipvalue", 0.05)],
)
def test_matches_keras_clipping_after_many_steps(mode, keras_arg, threshold):
    x, y = _data()
    ours = _model(GradientClipping(keras.optimizers.SGD(0.01, momentum=0.9), mode, threshold=threshold))
    theirs = _model(keras.optimizers.SGD(0.01, momentum=0.9, **{keras_arg: threshold}))
    ours.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    _assert_weights_close(ours, theirs)
    assert float(ours.optimizer.statistics()["grad_clip_rate"]) > 0.5  # clipping was really exercised


def test_observe_only_leaves_training_unchanged():
    x, y = _data()
    ours = _model(GradientClipping(keras.optimizers.Adam(0.01), mode=None))
    theirs = _model(keras.optimizers.Adam(0.01))
    ours.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    _assert_weights_close(ours, theirs)
    assert float(ours.optimizer.statistics()["grad_clip_rate"]) == 0.0


@pytest.mark.parametrize(
    "mode, kwargs",
    [("value", {"threshold": 1e6}), ("norm", {"threshold": 1e6}), ("adaptive", {"clipping": 1e6})],
)
def test_a_step_is_counted_as_clipped_only_when_clipping_changed_it(mode, kwargs):
    # A wide model, whose norms before and after a no-op clip are reductions XLA may order differently:
    # the clip rate must come from the clipping decision, not from comparing two rounded norms.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 300)).astype("float32")
    y = rng.integers(0, 10, size=256)
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input((300,)), keras.layers.Dense(300, activation="relu"), keras.layers.Dense(10)]
    )
    optimizer = GradientClipping(keras.optimizers.SGD(0.01), mode, **kwargs)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(loss=loss, optimizer=optimizer, jit_compile=True)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    statistics = optimizer.statistics()
    assert float(statistics["grad_steps"]) == 64
    assert float(statistics["grad_clip_rate"]) == 0.0
    assert float(statistics["grad_norm_clipped"]) == float(statistics["grad_norm"])


# --- NumPy references of the two papers ------------------------------------------------------------


def test_adaptive_matches_the_agc_formula():
    rng = np.random.default_rng(3)
    shapes = [(3, 2, 4, 6), (7, 5), (5,)]
    weights = [rng.normal(size=s).astype("float32") for s in shapes]
    weights[2][:] = 0.0  # a zero bias: the ε floor decides
    grads = [
        rng.normal(size=s).astype("float32") * scale
        for s, scale in zip(shapes, (0.01, 1.0, 0.5), strict=True)
    ]
    variables = [keras.Variable(w) for w in weights]
    optimizer = GradientClipping(keras.optimizers.SGD(1.0), "adaptive", clipping=0.05, eps=1e-2)
    optimizer.apply(grads, variables)
    for variable, w, g in zip(variables, weights, grads, strict=True):
        expected = w - float64.agc(g, w, 0.05, 1e-2)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), expected, rtol=1e-5, atol=1e-6)
    assert float(optimizer.statistics()["grad_clip_rate"]) == 1.0


def test_percentile_matches_autoclip_over_a_wrapping_window():
    rng = np.random.default_rng(4)
    scales = [1.0, 5.0, 0.5, 3.0, 10.0, 0.2, 2.0, 7.0, 1.5, 0.1]
    grads = [[rng.normal(size=(3, 2)).astype("float32") * s] for s in scales]
    window, percentile = 4, 25.0
    variable = keras.Variable(np.zeros((3, 2), "float32"))
    optimizer = GradientClipping(
        keras.optimizers.SGD(1.0), "percentile", percentile=percentile, window=window
    )
    expected_weight, history = np.zeros((3, 2), "float32"), []
    for (g,) in grads:
        optimizer.apply([g], [variable])
        norm = np.linalg.norm(g)
        history = (history + [norm])[-window:]  # AutoClip's history, cut to the last `window` norms
        threshold = np.percentile(history, percentile)
        expected_weight -= g * min(1.0, threshold / norm)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(variable), expected_weight, rtol=1e-5, atol=1e-6
        )
    stored = np.sort(keras.ops.convert_to_numpy(optimizer.norm_history))
    np.testing.assert_allclose(stored, np.sort(history), rtol=1e-6)
    assert int(keras.ops.convert_to_numpy(optimizer.history_count)) == len(scales)


# --- Properties of the gradient maths --------------------------------------------------------------

_thresholds = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)
_seeds = st.integers(0, 2**16)


def _random_grads(seed):
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.uniform(-3, 3)
    return [
        keras.ops.convert_to_tensor(rng.normal(size=(4, 3)).astype("float32") * scale),
        None,
        keras.ops.convert_to_tensor(rng.normal(size=(3,)).astype("float32") * scale),
    ]


def _norm(g):
    return float(np.linalg.norm(g))


def _clip(mode, grads, weights=None, **arguments):
    """`grads` clipped by the mode's own class alone (`_clip_modes`), as the wrapper clips them."""
    mode = _clip_modes.MODES[mode](**arguments)
    return mode.clip(grads, weights, mode.measure(grads), True).clip()


@settings(max_examples=20, deadline=None)
@given(threshold=_thresholds, seed=_seeds)
def test_global_norm_clipping_properties(threshold, seed):
    grads = _random_grads(seed)
    clipped = _clip("global_norm", grads, threshold=threshold)
    assert clipped[1] is None
    before = np.concatenate([g.ravel() for g in helpers.to_numpy(grads) if g is not None])
    after = np.concatenate([g.ravel() for g in helpers.to_numpy(clipped) if g is not None])
    assert _norm(after) <= threshold * (1 + 1e-5)
    cosine = before @ after / (_norm(before) * _norm(after))
    assert cosine == pytest.approx(1.0, abs=1e-5)  # direction preserved
    twice = helpers.to_numpy(_clip("global_norm", clipped, threshold=threshold))
    for a, b in zip(helpers.to_numpy(clipped), twice, strict=True):
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=1e-5)  # idempotent


def _clipped_twice(mode, threshold, seed):
    """`(gradient, clipped, clipped twice)` per variable with a gradient, as NumPy arrays."""
    grads = _random_grads(seed)
    clipped = _clip(mode, grads, threshold=threshold)
    assert clipped[1] is None  # a variable without a gradient stays without one
    twice = _clip(mode, clipped, threshold=threshold)
    return [
        (g, c, t)
        for g, c, t in zip(*map(helpers.to_numpy, (grads, clipped, twice)), strict=True)
        if g is not None
    ]


@settings(max_examples=20, deadline=None)
@given(threshold=_thresholds, seed=_seeds)
def test_norm_clipping_properties(threshold, seed):
    for g, c, twice in _clipped_twice("norm", threshold, seed):
        assert _norm(c) <= threshold * (1 + 1e-5)
        assert g.ravel() @ c.ravel() / (_norm(g) * _norm(c)) == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(twice, c, rtol=1e-5)


@settings(max_examples=20, deadline=None)
@given(threshold=_thresholds, seed=_seeds)
def test_value_clipping_properties(threshold, seed):
    for g, c, twice in _clipped_twice("value", threshold, seed):
        assert np.abs(c).max() <= np.float32(threshold)
        assert np.all(np.sign(c) == np.sign(g))
        np.testing.assert_array_equal(twice, c)


@settings(max_examples=20, deadline=None)
@given(clipping_=st.floats(1e-3, 1.0), seed=_seeds)
def test_adaptive_clipping_properties(clipping_, seed):
    grads = _random_grads(seed)
    weights = _random_grads(seed + 1)
    weights[1] = None
    clipped = _clip("adaptive", grads, weights, clipping=clipping_, eps=1e-3)
    assert clipped[1] is None
    for g, w, c in zip(
        helpers.to_numpy(grads), helpers.to_numpy(weights), helpers.to_numpy(clipped), strict=True
    ):
        if g is None:
            continue
        limit = clipping_ * np.maximum(float64.unit_norm(w), 1e-3)
        assert np.all(float64.unit_norm(c) <= limit * (1 + 1e-5) + 1e-12)
    twice = _clip("adaptive", clipped, weights, clipping=clipping_, eps=1e-3)
    for a, b in zip(helpers.to_numpy(clipped), helpers.to_numpy(twice), strict=True):
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=1e-5)


def test_none_gradients_pass_through_the_wrapper():
    used, unused = keras.Variable(np.ones(3, "float32")), keras.Variable(np.ones(2, "float32"))
    optimizer = GradientClipping(keras.optimizers.SGD(1.0), "global_norm", threshold=1.0)
    optimizer.build([used, unused])
    optimizer.apply([np.full(3, 4.0, "float32"), None], [used, unused])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(unused), np.ones(2))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(used), 1.0 - np.full(3, 1 / math.sqrt(3)), rtol=1e-6
    )


# --- Non-finite steps ------------------------------------------------------------------------------


def _assert_a_nan_batch_is_skipped_bit_identically(make_optimizer, batch, position):
    """Fits one model on 48 samples and one on the same with a NaN batch inserted at `position` (in
    batches); asserts the weights and the inner optimizer's variables equal bit for bit. Returns both."""
    x, y = _data(48)
    at = batch * position
    x_bad = np.concatenate([x[:at], np.full((batch, 5), np.nan, "float32"), x[at:]])
    y_bad = np.concatenate([y[:at], y[:batch], y[at:]])
    clean, skipped = _model(make_optimizer()), _model(make_optimizer())
    clean.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    skipped.fit(x_bad, y_bad, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(_weights(clean), _weights(skipped), strict=True):
        np.testing.assert_array_equal(a, b)
    inner = [helpers.to_numpy(m.optimizer.inner_optimizer.variables) for m in (clean, skipped)]
    for a, b in zip(*inner, strict=True):
        np.testing.assert_array_equal(a, b)
    return clean, skipped


def test_nonfinite_step_is_skipped_bit_identically():
    clean, skipped = _assert_a_nan_batch_is_skipped_bit_identically(
        lambda: GradientClipping(keras.optimizers.Adam(0.01)), batch=16, position=1
    )
    stats = skipped.optimizer.statistics()
    assert float(stats["grad_nonfinite_steps"]) == 1.0
    assert float(clean.optimizer.statistics()["grad_norm"]) == pytest.approx(float(stats["grad_norm"]))


@pytest.mark.parametrize("explicit", [True, False])
def test_nonfinite_step_reaches_weights_when_not_skipped(explicit):
    # An observer (mode=None) does not skip by default: it leaves training as the inner optimizer
    # alone would run it, a NaN step included, and still counts the step.
    variable = keras.Variable(np.ones(2, "float32"))
    kwargs = {"skip_nonfinite": False} if explicit else {}
    optimizer = GradientClipping(keras.optimizers.SGD(0.1), mode=None, **kwargs)
    assert optimizer.skip_nonfinite is False
    optimizer.apply([np.array([np.inf, 1.0], "float32")], [variable])
    assert not np.all(np.isfinite(keras.ops.convert_to_numpy(variable)))
    assert float(optimizer.statistics()["grad_nonfinite_steps"]) == 1.0


@pytest.mark.parametrize("mode", ["value", "norm", "global_norm", "adaptive", "percentile"])
def test_clipping_modes_skip_nonfinite_steps_by_default(mode):
    assert GradientClipping(keras.optimizers.SGD(0.1), mode).skip_nonfinite is True
    assert GradientClipping(keras.optimizers.SGD(0.1), mode, skip_nonfinite=False).skip_nonfinite is False
    assert GradientClipping(keras.optimizers.SGD(0.1), None, skip_nonfinite=True).skip_nonfinite is True


# --- State inside the compiled step, on every backend ----------------------------------------------


@pytest.mark.parametrize(
    "compile_kwargs",
    [
        {},
        # torch.compile takes about 30 s to trace this step: too long for the quick suite.
        pytest.param(
            {"jit_compile": True}, marks=[pytest.mark.slow] if keras.backend.backend() == "torch" else []
        ),
        {"steps_per_execution": 4},
    ],
    ids=["default", "jit", "spe4"],
)
def test_statistics_accumulate_inside_fit(compile_kwargs):
    if "steps_per_execution" in compile_kwargs and keras.backend.backend() == "torch":
        pytest.skip("Keras's torch trainer runs one step per execution")
    x, y = _data(64)
    model = _model(GradientClipping(keras.optimizers.SGD(0.01), "global_norm", 1.0), **compile_kwargs)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    optimizer = model.optimizer
    assert float(optimizer.statistics()["grad_steps"]) == 16.0
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 16
    stats = {k: float(v) for k, v in optimizer.statistics().items()}
    assert stats["grad_norm"] > 1.0 and stats["grad_norm_max"] >= stats["grad_norm"]
    assert stats["grad_norm_clipped"] == pytest.approx(1.0, rel=1e-5)
    per_variable = [stats[f"grad_norm/{v.path}"] for v in model.trainable_variables]
    assert all(value > 0 for value in per_variable)
    optimizer.reset_statistics()
    assert float(optimizer.statistics()["grad_norm"]) == 0.0


@pytest.mark.parametrize(
    "inner",
    [
        lambda: keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
        lambda: keras.optimizers.AdamW(1e-3, weight_decay=0.01),
        lambda: keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-2, 4, 0.5)),
        lambda: keras.optimizers.SGD(0.01, use_ema=True, ema_overwrite_frequency=3),
        lambda: keras.optimizers.SGD(0.01, gradient_accumulation_steps=2),
    ],
    ids=["nesterov", "adamw", "schedule", "ema", "accumulation"],
)
def test_composes_with_inner_optimizer_features(inner):
    x, y = _data(64)
    ours = _model(GradientClipping(inner(), mode=None))
    theirs = _model(inner())
    ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    _assert_weights_close(ours, theirs, atol=1e-5)
    # one recorded step per real update: 16 batches, 8 updates with gradient accumulation over 2
    accumulation = ours.optimizer.inner_optimizer.gradient_accumulation_steps or 1
    assert float(ours.optimizer.statistics()["grad_steps"]) == 16.0 / accumulation


def test_mixed_precision_statistics_are_on_unscaled_gradients():
    x, y = _data(32)
    # One batch repeated (learning rate 0): every step has the same gradient; the loss scale starts
    # high, so LossScaleOptimizer skips the first overflowing steps and our statistics see the rest.
    x, y = np.tile(x, (16, 1)), np.tile(y, (16, 1))
    reference = _model(GradientClipping(keras.optimizers.SGD(0.0), mode=None))
    reference.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = _model(GradientClipping(keras.optimizers.SGD(0.0), mode=None))
        mixed.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(mixed.optimizer, keras.optimizers.LossScaleOptimizer)
    wrapper = mixed.optimizer.inner_optimizer
    assert float(wrapper.statistics()["grad_steps"]) > 0
    expected = float(reference.optimizer.statistics()["grad_norm"])
    assert float(wrapper.statistics()["grad_norm"]) == pytest.approx(expected, rel=2e-2)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_adaptive_logs_the_norms_the_observer_logs(policy):
    # AGC measures its norms with its unit-wise ones (one pass, `clipping.measure_unitwise`); the
    # observer measures them apart. At learning rate 0 both see the same gradient at every step of a
    # fit: the statistics the logger reads must agree, per variable too (to float32 rounding). (Under
    # mixed precision the loss scale starts high: the first steps overflow and are skipped by both.)
    x, y = _data(64)
    x, y = np.tile(x, (4, 1)), np.tile(y, (4, 1))
    logs = {}
    keras.mixed_precision.set_global_policy(policy)
    try:
        for name, optimizer in [
            ("monitor", GradientMonitor(keras.optimizers.SGD(0.0))),
            ("adaptive", GradientClipping(keras.optimizers.SGD(0.0), "adaptive", clipping=1e-3)),
        ]:
            model = _model(optimizer)
            model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
            wrapper = unwrap(model.optimizer, GradientClipping)
            logs[name] = {k: float(keras.ops.convert_to_numpy(v)) for k, v in wrapper.statistics().items()}
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert logs["adaptive"]["grad_clip_rate"] > 0  # AGC did clip: its own path ran
    assert logs["adaptive"]["grad_steps"] == logs["monitor"]["grad_steps"] > 0
    for key in ["grad_norm", "grad_norm_max"]:
        assert logs["adaptive"][key] == pytest.approx(logs["monitor"][key], rel=1e-6), key
    # per variable, in the same order (the two models' variable paths differ by their names)
    per_variable = {
        name: [v for k, v in stats.items() if k.startswith("grad_norm/")] for name, stats in logs.items()
    }
    assert len(per_variable["adaptive"]) == 4
    np.testing.assert_allclose(per_variable["adaptive"], per_variable["monitor"], rtol=1e-6)


def test_update_ratios_are_update_over_weight_norms():
    weights = [np.full((2, 3), 2.0, "float32"), np.array([1.0, -1.0], "float32")]
    grads = [np.full((2, 3), 3.0, "float32"), np.array([0.5, 0.5], "float32")]
    variables = [keras.Variable(w) for w in weights]
    optimizer = GradientClipping(keras.optimizers.SGD(0.1), mode=None, update_ratios=True)
    optimizer.apply(grads, variables)
    optimizer.apply(grads, variables)
    stats = optimizer.statistics()
    first_update = [0.1 * np.linalg.norm(g) / np.linalg.norm(w) for g, w in zip(grads, weights, strict=True)]
    second_weights = [w - 0.1 * g for w, g in zip(weights, grads, strict=True)]
    second_update = [
        0.1 * np.linalg.norm(g) / np.linalg.norm(w) for g, w in zip(grads, second_weights, strict=True)
    ]
    for variable, a, b in zip(variables, first_update, second_update, strict=True):
        assert float(stats[f"update_ratio/{variable.path}"]) == pytest.approx((a + b) / 2, rel=1e-5)


def test_update_ratios_inside_fit():
    x, y = _data(32)
    model = _model(GradientClipping(keras.optimizers.Adam(1e-3), update_ratios=True))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    stats = model.optimizer.statistics()
    ratios = {v.path: float(stats[f"update_ratio/{v.path}"]) for v in model.trainable_variables}
    # Adam moves each weight by about the learning rate: small against a kernel's norm; the biases
    # start at zero, so theirs is large.
    assert all(0 < r < 0.05 for path, r in ratios.items() if path.endswith("kernel"))
    assert all(r > 1 for path, r in ratios.items() if path.endswith("bias"))


# --- Saving ----------------------------------------------------------------------------------------


def test_config_and_serialization_round_trip():
    optimizer = GradientClipping(
        keras.optimizers.Adam(1e-3),
        "percentile",
        percentile=20.0,
        window=50,
        skip_nonfinite=False,
        update_ratios=True,
    )
    helpers.assert_config_covers_init(optimizer)
    clone = helpers.assert_config_roundtrip(optimizer)
    assert isinstance(clone.inner_optimizer, keras.optimizers.Adam)
    helpers.assert_serialization_roundtrip(optimizer)


def test_saved_model_keeps_buffer_and_counters(tmp_path):
    x, y = _data(64)
    model = _model(GradientClipping(keras.optimizers.Adam(1e-2), "percentile", window=5))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    loaded = helpers.assert_saved_model_roundtrip(model, x, tmp_path)
    assert isinstance(loaded.optimizer, GradientClipping)
    history = keras.ops.convert_to_numpy(loaded.optimizer.norm_history)
    assert np.all(history > 0)
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.history_count)) == 8


def test_resumed_training_equals_uninterrupted(tmp_path):
    x, y = _data(64)

    def build():
        return _model(GradientClipping(keras.optimizers.Adam(1e-2), "percentile", percentile=50.0, window=6))

    uninterrupted = build()
    uninterrupted.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    first = build()
    first.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    first.save(tmp_path / "resume.keras")
    resumed = keras.saving.load_model(tmp_path / "resume.keras", safe_mode=True)
    resumed.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    helpers.assert_resumed_equals_uninterrupted(resumed, uninterrupted, atol=1e-6)


# --- Bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"threshold": 0.0}, ValueError, r"threshold.*Received: threshold=0.0"),
        ({"threshold": -1.0}, ValueError, r"Received: threshold=-1.0"),
        ({"threshold": float("inf")}, ValueError, r"Received: threshold=inf"),
        ({"threshold": float("nan")}, ValueError, r"Received: threshold=nan"),
        ({"threshold": "1"}, TypeError, r"Received: threshold='1'"),
        ({"clipping": 0.0}, ValueError, r"Received: clipping=0.0"),
        ({"eps": -1e-3}, ValueError, r"Received: eps=-0.001"),
        ({"percentile": 0.0}, ValueError, r"percentile in \(0, 100\]. Received: percentile=0.0"),
        ({"percentile": 100.5}, ValueError, r"Received: percentile=100.5"),
        ({"window": 0}, ValueError, r"window >= 1. Received: window=0"),
        ({"window": 2.5}, TypeError, r"Received: window=2.5"),
        (
            {"mode": "clip"},
            ValueError,
            r"'global_norm', 'adaptive', 'percentile', None\). Received: mode='clip'",
        ),
        ({"skip_nonfinite": "yes"}, TypeError, r"Received: skip_nonfinite='yes'"),
        ({"update_ratios": 1}, TypeError, r"Received: update_ratios=1"),
        ({"global_clipnorm": 1.0}, ValueError, r"not global_clipnorm. Received: global_clipnorm=1.0"),
        ({"momentum": 0.9}, ValueError, r"does not support the arguments \{'momentum': 0.9\}"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        GradientClipping(keras.optimizers.SGD(0.01), **kwargs)


@pytest.mark.parametrize(
    "inner, error, match",
    [
        ("sgd", TypeError, r"Received: inner_optimizer='sgd'"),
        (
            lambda: keras.optimizers.SGD(0.01, clipnorm=1.0),
            ValueError,
            r"already clips with clipnorm.*Received: clipnorm=1.0",
        ),
        (
            lambda: keras.optimizers.SGD(0.01, clipvalue=0.5),
            ValueError,
            r"already clips with clipvalue.*Received: clipvalue=0.5",
        ),
        (lambda: keras.optimizers.SGD(0.01, global_clipnorm=2.0), ValueError, r"global_clipnorm=2.0"),
        (lambda: keras.optimizers.SGD(0.01, loss_scale_factor=128.0), ValueError, r"loss_scale_factor=128.0"),
        (
            lambda: keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.01)),
            ValueError,
            r"LossScaleOptimizer\(GradientClipping",
        ),
    ],
)
def test_bad_inner_optimizer(inner, error, match):
    with pytest.raises(error, match=match):
        GradientClipping(inner() if callable(inner) else inner)


def test_a_percentile_file_saved_before_the_sorted_window_loads_with_its_window(recwarn):
    """keras-tricks before the sorted AutoClip window saved one variable fewer: loading such a file
    (tests/data, written by 70d893e on jax after 6 steps of a window of 4) rebuilds the sorted copy
    from the saved ring buffer instead of Keras skipping the whole optimizer state."""
    import json
    import pathlib

    data = pathlib.Path(__file__).parent / "data" / "percentile_before_sorted_window"
    expected = json.loads(data.with_suffix(".json").read_text())
    model = keras.saving.load_model(data.with_suffix(".keras"), safe_mode=True)
    assert not [w for w in recwarn if "Skipping variable loading" in str(w.message)]
    optimizer = model.optimizer
    history = keras.ops.convert_to_numpy(optimizer.norm_history)
    np.testing.assert_array_equal(history, np.float32(expected["norm_history"]))
    assert int(keras.ops.convert_to_numpy(optimizer.history_count)) == expected["history_count"] == 6
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(optimizer.norm_sorted), np.sort(history))
    for weight, saved in zip(model.get_weights(), expected["weights"], strict=True):
        np.testing.assert_array_equal(weight, np.float32(saved))
    rng = np.random.default_rng(1)  # training goes on with a consistent window
    model.fit(rng.normal(size=(4, 3)), rng.normal(size=(4, 2)), batch_size=2, verbose=0)
    history = keras.ops.convert_to_numpy(optimizer.norm_history)
    assert int(keras.ops.convert_to_numpy(optimizer.history_count)) == 8
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(optimizer.norm_sorted), np.sort(history))


# --- GradientMonitor: the observer under its own name -------------------------------------------------


def test_gradient_monitor_is_the_observer_bit_for_bit_and_trains_as_the_inner_optimizer():
    x, y = _data()
    monitor = _model(GradientMonitor(keras.optimizers.Adam(0.01)))
    observer = _model(GradientClipping(keras.optimizers.Adam(0.01), mode=None))
    plain = _model(keras.optimizers.Adam(0.01))
    for model in (monitor, observer, plain):
        model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(_weights(monitor), _weights(observer), strict=True):
        np.testing.assert_array_equal(a, b)
    _assert_weights_close(monitor, plain)
    ours, reference = monitor.optimizer.statistics(), observer.optimizer.statistics()
    assert len(ours) == len(reference)  # keyed by variable path: the two models' layers are named apart
    for (key, a), b in zip(ours.items(), reference.values(), strict=True):
        np.testing.assert_array_equal(*helpers.to_numpy([a, b]), err_msg=key)
    assert float(ours["grad_norm"]) > 0 and float(ours["grad_clip_rate"]) == 0.0
    assert monitor.optimizer.mode is None and not monitor.optimizer.skip_nonfinite


def test_gradient_monitor_saves_loads_and_resumes_as_itself(tmp_path):
    x, y = _data()
    monitor = GradientMonitor(keras.optimizers.Adam(1e-2), update_ratios=True)
    helpers.assert_config_covers_init(monitor)
    assert set(monitor.get_config()) == {"name", "inner_optimizer", "update_ratios", "skip_nonfinite"}
    helpers.assert_serialization_roundtrip(monitor)
    uninterrupted = _model(GradientMonitor(keras.optimizers.Adam(1e-2), update_ratios=True))
    uninterrupted.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    first = _model(monitor)
    first.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    first.save(tmp_path / "monitor.keras")
    resumed = keras.saving.load_model(tmp_path / "monitor.keras", safe_mode=True)
    assert type(resumed.optimizer) is GradientMonitor and resumed.optimizer.update_ratios
    resumed.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    helpers.assert_resumed_equals_uninterrupted(resumed, uninterrupted)


@pytest.mark.parametrize("arg", ["mode", "threshold", "clipping", "eps", "percentile", "window"])
def test_gradient_monitor_refuses_clipping_arguments_naming_gradient_clipping(arg):
    with pytest.raises(TypeError, match=rf"takes no {arg}.*GradientClipping.*Received: {arg}="):
        GradientMonitor(keras.optimizers.SGD(0.01), **{arg: 1.0})


@pytest.mark.parametrize("mode", ["adaptive", "percentile"])
def test_a_fit_clips_as_float64_numpy_does(mode):
    # The whole seam in `fit` (compiled step; on tensorflow and torch the plain sums with their branch)
    # against a float64 NumPy run of the same linear model: MSE gradients in closed form, SGD, and the
    # clipping of each paper (AGC per output unit; AutoClip's percentile over the last `window` norms).
    rng = np.random.default_rng(7)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = (rng.normal(size=(32, 3)) * 4).astype("float32")
    w0 = (rng.normal(size=(5, 3)) * 0.5).astype("float32")
    lr, batch, epochs, window, percentile = 0.1, 8, 3, 4, 25.0
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, bias_initializer="zeros")])
    model.layers[0].kernel.assign(w0)
    model.compile(
        GradientClipping(keras.optimizers.SGD(lr), mode, clipping=0.05, window=window, percentile=percentile),
        loss="mse",
    )
    model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False, verbose=0)

    w, b, history = w0.astype("float64"), np.zeros(3), []
    for _ in range(epochs):
        for start in range(0, len(x), batch):
            xb, yb = x[start : start + batch].astype("float64"), y[start : start + batch].astype("float64")
            residual = 2 * (xb @ w + b - yb) / yb.size  # MSE: the mean over batch and outputs
            grads = [xb.T @ residual, residual.sum(axis=0)]
            if mode == "adaptive":
                grads = [float64.agc(g, v, 0.05, 1e-3) for g, v in zip(grads, [w, b], strict=True)]
            else:
                norm = np.sqrt(sum(np.sum(g**2) for g in grads))
                history = (history + [norm])[-window:]
                threshold = np.percentile(history, percentile)
                if norm > threshold:
                    grads = [g * threshold / norm for g in grads]
            w, b = w - lr * grads[0], b - lr * grads[1]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.layers[0].kernel), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.layers[0].bias), b, rtol=1e-5, atol=1e-6)
    assert float(model.optimizer.statistics()["grad_clip_rate"]) > 0  # the clipping did act


@pytest.mark.parametrize("mode", ["norm", "global_norm", "adaptive", "percentile"])
def test_the_clipping_is_computed_in_the_update_that_uses_it(mode, monkeypatch):
    """A mode's clipping (each gradient times its factor) is computed in the branch of the skip's `cond`
    that updates the weights, not before it: there XLA fuses it into the inner optimizer's update, as
    it fuses Keras's own `global_clipnorm`; before the `cond`, each clipped gradient was written out to
    memory (docs/benchmarks.md). Eagerly (tensorflow, torch), a skipped step computes no clipping."""
    optimizer = GradientClipping(keras.optimizers.Adam(0.01), mode, threshold=0.1)
    model = _model(optimizer)
    variables = model.trainable_variables
    optimizer.build(variables)
    shapes = {tuple(v.shape) for v in variables if len(v.shape) == 2}
    grads = [keras.ops.ones(v.shape) for v in variables]
    if keras.backend.backend() == "jax":
        import jax

        def traced(wrapper):
            """(the `cond`, the gradients' variables, equations outside the `cond`, equations of its update
            branch), nested jaxprs (a `jit`'s) included."""
            wrapper.build(variables)
            jaxpr = jax.make_jaxpr(wrapper.stateless_apply)(
                [v.value for v in wrapper.variables], grads, [v.value for v in variables]
            ).jaxpr
            # The skip's `cond` is the last; the others measure (`clipping.measure`'s exact branch),
            # returning norms only: no kernel-shaped value leaves them, so none can hold the clipping.
            conds = [e for e in jaxpr.eqns if e.primitive.name == "cond"]
            cond, measuring = conds[-1], conds[:-1]
            for e in measuring:
                assert all(tuple(v.aval.shape) not in shapes for v in e.outvars)
            gradient_vars = jaxpr.invars[len(wrapper.variables) : len(wrapper.variables) + len(grads)]
            return (
                cond,
                gradient_vars,
                _equations(jaxpr, skip=[cond, *measuring]),
                _equations(cond.params["branches"][1].jaxpr),
            )

        def products(eqns):
            return [e for e in eqns if e.primitive.name == "mul" and tuple(e.outvars[0].aval.shape) in shapes]

        cond, gradient_vars, outside, branch = traced(optimizer)
        assert set(gradient_vars) <= set(cond.invars)  # the gradients go into the branch as they are
        assert products(outside) == []
        # The branch holds the update's own products (Adam's) and the clipping's: more than the observer's.
        observer = GradientClipping(keras.optimizers.Adam(0.01), None, skip_nonfinite=True)
        assert len(products(branch)) >= len(products(traced(observer)[3])) + len(shapes)
        return
    calls = []
    scale = clipping._scale
    monkeypatch.setattr(clipping, "_scale", lambda *args: calls.append(1) or scale(*args))
    before = _weights(model)
    nan = [keras.ops.full(v.shape, float("nan")) for v in variables]
    optimizer.apply(nan, variables)
    assert calls == []
    for a, b in zip(before, _weights(model), strict=True):
        np.testing.assert_array_equal(a, b)
    optimizer.apply(grads, variables)
    assert calls
    assert not np.array_equal(before[0], _weights(model)[0])


def _equations(jaxpr, skip=()):
    """The equations of a jaxpr and of the jaxprs nested in them (a `jit`'s, a `cond`'s branches), but
    not those in `skip` and those nested in them."""
    found = []
    for e in jaxpr.eqns:
        if any(e is s for s in skip):
            continue
        found.append(e)
        for value in e.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr's Jaxpr
                if hasattr(inner, "eqns"):
                    found.extend(_equations(inner))
    return found


@pytest.mark.parametrize("mode", ["global_norm", "adaptive"])
@pytest.mark.parametrize("position", [2, 3], ids=["first-micro-step", "update-micro-step"])
def test_a_nonfinite_micro_batch_is_skipped_bit_identically_under_gradient_accumulation(mode, position):
    """With an inner optimizer that accumulates 2 micro-batches, a NaN micro-batch is dropped whole: the
    running sums, the inner optimizer and its step count stay as they were, so the run equals the one
    without that batch, bit for bit, whether it falls on a first micro-step or on an update."""
    _, skipped = _assert_a_nan_batch_is_skipped_bit_identically(
        lambda: GradientClipping(
            keras.optimizers.Adam(0.01, gradient_accumulation_steps=2), mode, threshold=1.0
        ),
        batch=8,
        position=position,
    )
    assert float(skipped.optimizer.statistics()["grad_nonfinite_steps"]) == 1.0
    assert float(skipped.optimizer.statistics()["grad_steps"]) == 3.0  # 6 clean micro-batches, 3 updates
