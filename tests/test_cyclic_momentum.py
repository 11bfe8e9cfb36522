"""CyclicMomentum and OneCycle's momentum curve: NumPy references step by step, fit, resumption, bad input."""

import keras
import numpy as np
import pytest

from keras_tricks.optimizers import CyclicMomentum, GradientClipping
from keras_tricks.schedules import OneCycle
from tests import helpers

# 12 steps: warm-up 0–4, descent 5–9, final phase 10–11 (the tests run past the end too)
TOTAL_STEPS = 12


def _one_cycle(max_lr=0.05, **kwargs):
    return OneCycle(max_lr, TOTAL_STEPS, max_momentum=0.95, base_momentum=0.85, **kwargs)


def _numbers(values):
    return keras.ops.convert_to_numpy(values).astype("float64")


# --- the momentum curve ----------------------------------------------------------------------------


def test_one_cycle_momentum_is_the_inverse_of_the_rate():
    schedule = OneCycle(0.1, 100, max_momentum=0.95, base_momentum=0.85)  # phases end at 44, 88, 100
    steps = np.array([0, 22, 44, 66, 88, 95, 100, 1000])
    np.testing.assert_allclose(
        _numbers(schedule.momentum(steps)), [0.95, 0.9, 0.85, 0.9, 0.95, 0.95, 0.95, 0.95], rtol=1e-6
    )
    # the rate's curve is the one without momentum
    np.testing.assert_array_equal(_numbers(schedule(steps)), _numbers(OneCycle(0.1, 100)(steps)))
    # up to the final phase the momentum falls exactly where the rate rises (then it stays at the top)
    rate, momentum = _numbers(schedule(np.arange(89))), _numbers(schedule.momentum(np.arange(89)))
    assert np.all(np.sign(np.diff(rate)) == -np.sign(np.diff(momentum)))


def test_one_cycle_momentum_follows_the_anneal():
    schedule = OneCycle(
        1.0, 100, 0.1, 1e-4, 0.3, 0.2, anneal="cosine", max_momentum=0.9, base_momentum=0.8
    )  # phases end at 30, 80, 100
    a_third = 0.9 - 0.1 * (1 - np.cos(np.pi * 10 / 30)) / 2
    momentum = _numbers(schedule.momentum(np.array([0, 10, 30, 80, 90])))
    np.testing.assert_allclose(momentum, [0.9, a_third, 0.8, 0.9, 0.9], rtol=1e-6)


def test_one_cycle_without_momentum_has_no_curve():
    schedule = OneCycle(0.1, 100)
    assert not schedule.cycles_momentum
    with pytest.raises(ValueError, match="no momentum curve"):
        schedule.momentum(0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"max_momentum": 0.95}, ValueError, r"both max_momentum and base_momentum.*base_momentum=None"),
        ({"base_momentum": 0.85}, ValueError, r"max_momentum=None, base_momentum=0.85"),
        ({"max_momentum": 0.85, "base_momentum": 0.95}, ValueError, r"base_momentum < max_momentum"),
        ({"max_momentum": 0.9, "base_momentum": 0.9}, ValueError, r"base_momentum=0.9, max_momentum=0.9"),
        ({"max_momentum": 1.0, "base_momentum": 0.85}, ValueError, r"max_momentum in \[0, 1\).*=1.0"),
        ({"max_momentum": 0.95, "base_momentum": -0.1}, ValueError, r"base_momentum in \[0, 1\)"),
        ({"max_momentum": "0.95", "base_momentum": 0.85}, TypeError, r"max_momentum='0.95'"),
        ({"max_momentum": True, "base_momentum": 0.85}, TypeError, r"max_momentum=True"),
    ],
)
def test_one_cycle_rejects_bad_momentum(kwargs, error, match):
    with pytest.raises(error, match=match):
        OneCycle(0.1, 100, **kwargs)


def test_one_cycle_with_momentum_round_trips():
    schedule = _one_cycle(anneal="cosine")
    helpers.assert_config_covers_init(schedule)
    restored = helpers.assert_serialization_roundtrip(schedule)
    steps = np.arange(TOTAL_STEPS + 2)
    np.testing.assert_array_equal(_numbers(restored.momentum(steps)), _numbers(schedule.momentum(steps)))
    # a config saved before the momentum arguments existed still loads, with no curve
    old = {k: v for k, v in schedule.get_config().items() if not k.endswith("_momentum")}
    assert not OneCycle.from_config(old).cycles_momentum


# --- NumPy references of the optimizers with a per-step momentum -----------------------------------


def _reference(kind, weights, gradients, lr, momentum, nesterov=False):
    """`weights` after applying `gradients[k]` at step k with rate lr(k) and momentum momentum(k).

    The Adam family follows Keras's formulas with β₁ = momentum(k) (bias correction with the current
    β₁, as PyTorch's OneCycleLR does); beta_2=0.999, epsilon=1e-7 (Keras's defaults), AdamW's
    weight_decay=0.004.
    """
    weights = [w.astype("float64") for w in weights]
    state = [{"m": np.zeros_like(w), "v": np.zeros_like(w)} for w in weights]
    u_product = 1.0
    beta_2, eps = 0.999, 1e-7
    for step, grads in enumerate(gradients):
        eta, mu, t = lr(step), momentum(step), step + 1
        if kind == "nadam":
            u_t, u_next = mu * (1 - 0.5 * 0.96**t), mu * (1 - 0.5 * 0.96 ** (t + 1))
            u_product_next = u_product * u_t * u_next
            u_product *= u_t
        for w, g, s in zip(weights, grads, state, strict=True):
            g = g.astype("float64")
            if kind == "adamw":  # decoupled weight decay first, then Adam
                w -= w * 0.004 * eta
            if kind == "sgd":
                s["m"] = mu * s["m"] - eta * g
                w += mu * s["m"] - eta * g if nesterov else s["m"]
                continue
            s["m"] += (g - s["m"]) * (1 - mu)
            if kind == "adamax":
                s["v"] = np.maximum(beta_2 * s["v"], np.abs(g))
                w -= eta * s["m"] / ((1 - mu**t) * (s["v"] + eps))
                continue
            s["v"] += (g * g - s["v"]) * (1 - beta_2)
            if kind in ("adam", "adamw"):
                alpha = eta * np.sqrt(1 - beta_2**t) / (1 - mu**t)
                w -= s["m"] * alpha / (np.sqrt(s["v"]) + eps)
            elif kind == "lamb":
                update = (s["m"] / (1 - mu**t)) / (np.sqrt(s["v"] / (1 - beta_2**t)) + eps)
                w -= np.linalg.norm(w) / np.linalg.norm(update) * eta * update
            else:  # nadam
                m_hat = u_next * s["m"] / (1 - u_product_next) + (1 - u_t) * g / (1 - u_product)
                w -= m_hat * eta / (np.sqrt(s["v"] / (1 - beta_2**t)) + eps)
    return weights


def _schedule_functions(schedule):
    lr = lambda step: float(schedule(step))  # noqa: E731
    if isinstance(schedule, OneCycle):
        return lr, lambda step: float(schedule.momentum(step))
    return lr, lambda step: float(schedule(step))


OPTIMIZERS = {
    "sgd": lambda lr: keras.optimizers.SGD(lr, momentum=0.5),
    "nesterov": lambda lr: keras.optimizers.SGD(lr, momentum=0.5, nesterov=True),
    "adam": lambda lr: keras.optimizers.Adam(lr),
    "adamw": lambda lr: keras.optimizers.AdamW(lr),  # weight_decay=0.004
    "lamb": lambda lr: keras.optimizers.Lamb(lr),
    "adamax": lambda lr: keras.optimizers.Adamax(lr),
    "nadam": lambda lr: keras.optimizers.Nadam(lr),
}


def _reference_for(name, weights, gradients, schedule):
    lr, momentum = _schedule_functions(schedule)
    kind = "sgd" if name == "nesterov" else name
    return _reference(kind, weights, gradients, lr, momentum, nesterov=name == "nesterov")


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_apply_follows_the_momentum_schedule_exactly(name):
    rng = np.random.default_rng(0)
    initial = [rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=(2,)).astype("float32")]
    gradients = [[rng.normal(size=w.shape).astype("float32") for w in initial] for _ in range(15)]
    schedule = _one_cycle()
    variables = [keras.Variable(w) for w in initial]
    optimizer = CyclicMomentum(OPTIMIZERS[name](schedule))
    for grads in gradients:
        optimizer.apply(grads, variables)

    expected = _reference_for(name, initial, gradients, schedule)
    # float32 noise: Keras's own Adam and Nadam, with a constant β₁, are up to 1e-6 from this float64
    # reference after these 15 steps (weights of norm ~1)
    for variable, want in zip(variables, expected, strict=True):
        np.testing.assert_allclose(_numbers(variable), want, atol=1e-6, rtol=2e-6)
    # the test can tell: a constant momentum lands elsewhere
    lr, _ = _schedule_functions(schedule)
    kind = "sgd" if name == "nesterov" else name
    constant = _reference(kind, initial, gradients, lr, lambda step: 0.9, nesterov=name == "nesterov")
    assert np.abs(constant[0] - expected[0]).max() > 1e-4
    # the inner optimizer's float is left as it was (its config does not change)
    inner = optimizer.inner_optimizer
    assert (inner.momentum if name in ("sgd", "nesterov") else inner.beta_1) == (
        0.5 if name in ("sgd", "nesterov") else 0.9
    )


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_constant_schedule_is_the_plain_optimizer(name):
    rng = np.random.default_rng(2)
    initial = rng.normal(size=(4, 3)).astype("float32")
    gradients = [rng.normal(size=initial.shape).astype("float32") for _ in range(8)]
    wrapped, plain = keras.Variable(initial), keras.Variable(initial)
    constant = keras.optimizers.schedules.PiecewiseConstantDecay([1000], [0.9, 0.9])
    optimizer = CyclicMomentum(OPTIMIZERS[name](0.01), constant)  # the SGDs' placeholder momentum is 0.5
    reference = OPTIMIZERS[name](0.01)
    setattr(reference, "momentum" if name in ("sgd", "nesterov") else "beta_1", 0.9)
    for g in gradients:
        optimizer.apply([g], [wrapped])
        reference.apply([keras.ops.convert_to_tensor(g)], [plain])
    np.testing.assert_allclose(_numbers(wrapped), _numbers(plain), atol=1e-7, rtol=3e-7)  # a few ulps


def test_any_schedule_can_give_the_momentum():
    momentum = keras.optimizers.schedules.PiecewiseConstantDecay([3], [0.9, 0.0])
    w = keras.Variable(np.zeros(2, "float32"))
    optimizer = CyclicMomentum(keras.optimizers.SGD(0.1, momentum=0.5), momentum)
    for _ in range(6):
        optimizer.apply([np.ones(2, "float32")], [w])
    [expected] = _reference(
        "sgd", [np.zeros(2)], [[np.ones(2)]] * 6, lambda s: 0.1, lambda s: float(momentum(s))
    )
    np.testing.assert_allclose(_numbers(w), expected, atol=1e-6)
    np.testing.assert_allclose(float(optimizer.momentum), 0.0)


def test_the_schedule_defaults_to_the_inner_one_cycle():
    optimizer = CyclicMomentum(keras.optimizers.Adam(_one_cycle()))
    assert isinstance(optimizer.schedule, OneCycle)
    assert optimizer.schedule.get_config() == _one_cycle().get_config()
    np.testing.assert_allclose(float(optimizer.momentum), 0.95)  # step 0


# --- in fit, on every backend (the JAX trainer goes through stateless_apply) ------------------------


def _data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]]) + 0.3).astype("float32")
    return x, y


def _linear_model(optimizer):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _mse_gradient(weights, x, y):
    error = x.astype("float64") @ weights[0] + weights[1] - y
    return [2 * x.T @ error / len(x), 2 * error.sum(axis=0) / len(x)]


def _fit_reference(name, initial, x, y, schedule, epochs, batch_size):
    """The weights after fit(shuffle=False) on a linear model with the MSE loss, in NumPy."""
    weights, gradients = initial, []
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            # each gradient depends on the weights of its step: replay the reference up to there
            gradients.append(
                _mse_gradient(weights, x[start : start + batch_size], y[start : start + batch_size])
            )
            weights = _reference_for(name, initial, gradients, schedule)
    return weights


@pytest.mark.parametrize("name", ["nesterov", "sgd", "adam"])
def test_fit_matches_the_numpy_reference(name):
    x, y = _data()
    schedule = _one_cycle()
    model = _linear_model(CyclicMomentum(OPTIMIZERS[name](schedule)))
    initial = model.get_weights()
    model.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)  # 16 steps: the cycle and after
    expected = _fit_reference(name, initial, x, y, schedule, epochs=4, batch_size=8)
    for actual, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(actual, want, atol=1e-5, rtol=0)
    assert int(model.optimizer.iterations) == 16
    # each variable once: the wrapper's own two (a dummy iteration count and rate), then the inner's
    assert len({id(v) for v in model.optimizer.variables}) == len(model.optimizer.variables)


def test_composes_inside_gradient_clipping_and_loss_scaling():
    x, y = _data()
    plain = _linear_model(CyclicMomentum(OPTIMIZERS["nesterov"](_one_cycle())))
    initial = plain.get_weights()
    plain.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for outer in (
        lambda opt: GradientClipping(opt, mode=None),
        lambda opt: keras.optimizers.LossScaleOptimizer(GradientClipping(opt, mode=None)),
    ):
        keras.utils.set_random_seed(1234)
        model = _linear_model(outer(CyclicMomentum(OPTIMIZERS["nesterov"](_one_cycle()))))
        model.set_weights(initial)
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        for actual, want in zip(model.get_weights(), plain.get_weights(), strict=True):
            np.testing.assert_allclose(actual, want, atol=1e-6)


@pytest.mark.parametrize("name", ["nesterov", "adam"])
def test_saved_mid_training_resumes_identically(name, tmp_path):
    x, y = _data()
    model = _linear_model(CyclicMomentum(OPTIMIZERS[name](_one_cycle())))
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)  # 4 steps: mid warm-up
    loaded = helpers.assert_saved_model_roundtrip(model, x, tmp_path)
    assert isinstance(loaded.optimizer, CyclicMomentum)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    for m in (model, loaded):
        m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for actual, want in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(actual, want, atol=1e-6)
    np.testing.assert_allclose(float(loaded.optimizer.momentum), float(model.optimizer.momentum))


# --- config and bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("inner", ["nesterov", "adam"])
def test_config_round_trips(inner):
    optimizer = CyclicMomentum(OPTIMIZERS[inner](0.01), _one_cycle(), name="cyclic")
    helpers.assert_config_covers_init(optimizer)
    clone = helpers.assert_config_roundtrip(optimizer)
    restored = helpers.assert_serialization_roundtrip(optimizer)
    for copy in (clone, restored):
        assert type(copy.inner_optimizer) is type(optimizer.inner_optimizer)
        assert copy.schedule.get_config() == optimizer.schedule.get_config()


def _sgd(**kwargs):
    return keras.optimizers.SGD(**{"momentum": 0.9, **kwargs})


BAD_INPUT = [
    (lambda: CyclicMomentum("sgd", _one_cycle()), TypeError, r"Optimizer instance.*'sgd'"),
    (
        lambda: CyclicMomentum(keras.optimizers.RMSprop(momentum=0.9), _one_cycle()),
        TypeError,
        r"SGD or one of Adam.*inner_optimizer=RMSprop",
    ),
    (lambda: CyclicMomentum(keras.optimizers.Lion(), _one_cycle()), TypeError, r"inner_optimizer=Lion"),
    (
        lambda: CyclicMomentum(GradientClipping(_sgd()), _one_cycle()),
        TypeError,
        r"GradientClipping\(CyclicMomentum\(SGD",
    ),
    (lambda: CyclicMomentum(_sgd(momentum=0.0), _one_cycle()), ValueError, r"momentum > 0.*momentum=0.0"),
    (
        lambda: CyclicMomentum(_sgd(gradient_accumulation_steps=2), _one_cycle()),
        ValueError,
        r"gradient_accumulation_steps=2",
    ),
    (
        lambda: CyclicMomentum(_sgd(nesterov=True, use_ema=True), _one_cycle()),
        ValueError,
        r"Nesterov SGD with use_ema=True",
    ),
    (lambda: CyclicMomentum(keras.optimizers.Adam(), 0.9), TypeError, r"LearningRateSchedule.*schedule=0.9"),
    (
        lambda: CyclicMomentum(keras.optimizers.Adam(), OneCycle(0.1, 100)),
        ValueError,
        r"OneCycle schedule with a momentum curve.*'max_momentum': None",
    ),
    (
        lambda: CyclicMomentum(keras.optimizers.Adam(OneCycle(0.1, 100))),
        ValueError,
        r"schedule=None.*OneCycle",
    ),
    (
        lambda: CyclicMomentum(keras.optimizers.Adam(0.01)),
        ValueError,
        r"inner_optimizer learning_rate=0.0099",
    ),
    (lambda: CyclicMomentum(keras.optimizers.Adam(), _one_cycle(), clipnorm=1.0), TypeError, r"clipnorm"),
]


@pytest.mark.parametrize("make, error, match", BAD_INPUT)
def test_rejects_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make()
