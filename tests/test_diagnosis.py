"""keras_tricks/diagnostics/_diagnosis.py, _evidence.py and callbacks/diagnose.py: the rules at their
thresholds, the pre-flight leaving the model as it was, and the callback during fit with every wrapper.
The panel on the real Fashion-MNIST is tests/test_example_diagnosis.py."""

import math

import keras
import numpy as np
import pytest

from keras_tricks.callbacks import Diagnose, GradientNormLogger
from keras_tricks.diagnostics import CODES, THRESHOLDS, Diagnosis, Finding, diagnose
from keras_tricks.diagnostics._diagnosis import read
from keras_tricks.optimizers import CyclicMomentum, GradientClipping, LearningRateMultipliers

T = THRESHOLDS


def _codes(evidence):
    return [finding.code for finding in read(evidence)]


# Each rule just below and just above its threshold: (evidence that passes, evidence that triggers, code).
BOUNDARIES = [
    (
        {"inputs": {"mean": 0.3, "std": T["input_scale"] * 0.99}},
        {"inputs": {"mean": 0.3, "std": T["input_scale"] * 1.01}},
        "unscaled_inputs",
    ),
    (
        {
            "activations": {
                "h": {"activation": "tanh", "saturated": T["saturated"] * 0.99, "dead_units": None}
            }
        },
        {"activations": {"h": {"activation": "tanh", "saturated": T["saturated"], "dead_units": None}}},
        "saturated_activations",
    ),
    (
        {
            "activations": {
                "h": {"activation": "relu", "saturated": None, "dead_units": T["dead_units"] * 0.99}
            }
        },
        {"activations": {"h": {"activation": "relu", "saturated": None, "dead_units": T["dead_units"]}}},
        "dead_units",
    ),
    (
        {"gradient_rms": {"a/kernel": T["vanishing"] * 1.01, "b/kernel": 1.0}},
        {"gradient_rms": {"a/kernel": T["vanishing"] * 0.99, "b/kernel": 1.0}},
        "vanishing_gradients",
    ),
    (
        {"gradient_rms": {"a/kernel": T["exploding"] * 0.99, "b/kernel": 1.0}},
        {"gradient_rms": {"a/kernel": T["exploding"] * 1.01, "b/kernel": 1.0}},
        "exploding_gradients",
    ),
    (
        {"gradient_norm": T["exploding_norm"] * 0.99},
        {"gradient_norm": T["exploding_norm"] * 1.01},
        "exploding_gradients",
    ),
    (
        {"activations": {"x": {"std": 0.5}, "h": {"std": 0.5 * T["activation_growth"] * 0.99}}},
        {"activations": {"x": {"std": 0.5}, "h": {"std": 0.5 * T["activation_growth"] * 1.01}}},
        "exploding_gradients",
    ),
    (
        {"nonfinite_steps": 0, "gradient_norm": 1.0},
        {"nonfinite_steps": 1, "gradient_norm": 1.0},
        "nonfinite_gradients",
    ),
    ({"losses": [1.0, 0.5, 0.5 * T["diverging"] * 0.99]}, {"losses": [1.0, 0.5, 1.01]}, "diverging_loss"),
    ({"losses": [1.0, 0.5]}, {"losses": [1.0, float("nan")]}, "diverging_loss"),
    (
        {"update_ratio": {"a/kernel": T["update_ratio_low"] * 1.01}},
        {"update_ratio": {"a/kernel": T["update_ratio_low"] * 0.99}},
        "learning_rate_too_low",
    ),
    (
        {"clip_rate": 0.95, "clipped_over_norm": T["over_clipping_shrink"] * 1.01},
        {"clip_rate": 0.95, "clipped_over_norm": T["over_clipping_shrink"] * 0.99},
        "over_clipping",
    ),
    (
        {"losses": [1.0, 0.8, 0.6], "val_losses": [1.0, 0.9, 0.9 * T["overfitting"] * 0.99]},
        {"losses": [1.0, 0.8, 0.6], "val_losses": [1.0, 0.9, 0.9 * T["overfitting"] * 1.01]},
        "overfitting",
    ),
    (
        {"self_normalizing": []},
        {"self_normalizing": ["layer 'h' (Dense) uses activation 'relu'"]},
        "not_self_normalizing",
    ),
]


@pytest.mark.parametrize("quiet, loud, code", BOUNDARIES, ids=[b[2] for b in BOUNDARIES])
def test_each_rule_triggers_exactly_at_its_threshold(quiet, loud, code):
    assert code not in _codes(quiet)
    assert code in _codes(loud)


def test_every_code_has_a_rule_a_remedy_and_a_docs_page():
    covered = {b[2] for b in BOUNDARIES}
    assert covered == set(CODES)
    for code, (meaning, remedy, page) in CODES.items():
        assert meaning and remedy and page.endswith(".md"), code
        finding = next(f for f in read(next(b[1] for b in BOUNDARIES if b[2] == code)) if f.code == code)
        assert finding.severity in ("error", "warning")
        assert finding.remedy.endswith(f"(docs: {page})") and finding.message
        assert isinstance(finding.evidence, dict) and finding.evidence


def test_the_report_lists_each_problem_once_errors_first():
    findings = [
        Finding("learning_rate_too_low", "warning", 0, (), {"update_ratio": 1e-8}, "slow", "raise it"),
        Finding("nonfinite_gradients", "error", 2, ("a/kernel",), {}, "NaN", "lower it"),
        Finding("learning_rate_too_low", "warning", 1, (), {"update_ratio": 1e-8}, "slow", "raise it"),
    ]
    report = Diagnosis(findings).report()
    lines = report.splitlines()
    assert lines[0] == "Diagnosis: 2 problem(s), 1 error(s)."
    assert lines[1].startswith("error   nonfinite_gradients (epoch 3) [a/kernel]: NaN")
    assert lines[3].startswith("warning learning_rate_too_low (epoch 1): slow")
    assert report.count("learning_rate_too_low") == 1
    assert Diagnosis(findings).codes == ["learning_rate_too_low", "nonfinite_gradients"]


def _data(samples=256, scale=1.0):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(samples, 8)) * scale).astype("float32")
    return x, (x[:, :1] > 0).astype("int32").ravel()


def _model(optimizer, activation="relu", bias="zeros"):
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation=activation, bias_initializer=bias, name="hidden"),
            keras.layers.Dense(2, activation="softmax", name="out"),
        ]
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


def _state(model):
    return [keras.ops.convert_to_numpy(v).copy() for v in model.weights + model.optimizer.variables]


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: keras.optimizers.Adam(1e-3),
        lambda: GradientClipping(keras.optimizers.SGD(0.01, momentum=0.9), "value", threshold=1e-4),
        lambda: keras.optimizers.LossScaleOptimizer(GradientClipping(keras.optimizers.Adam(1e-3), mode=None)),
    ],
    ids=["adam", "value_clipping", "loss_scale"],
)
def test_the_pre_flight_leaves_model_and_optimizer_exactly_as_they_were(optimizer):
    x, y = _data()
    model = _model(optimizer())
    model.fit(x, y, epochs=1, verbose=0)
    before = _state(model)
    diagnosis = diagnose(model, x, y, steps=10)
    after = _state(model)
    assert len(before) == len(after)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    assert set(diagnosis.evidence) >= {"inputs", "activations", "gradient_rms", "losses", "update_ratio"}


def test_the_pre_flight_finds_unscaled_inputs_dead_units_and_a_learning_rate_too_low():
    x, y = _data(scale=100.0)
    assert "unscaled_inputs" in diagnose(_model(keras.optimizers.SGD(0.01)), x, y, steps=0).codes
    x, y = _data()
    assert (
        "dead_units"
        in diagnose(_model(keras.optimizers.SGD(0.01), bias=keras.initializers.Constant(-5.0)), x, y).codes
    )
    assert "learning_rate_too_low" in diagnose(_model(keras.optimizers.SGD(1e-9)), x, y).codes
    assert diagnose(_model(keras.optimizers.SGD(0.01)), x, y).codes == []  # a healthy one: nothing


def test_the_pre_flight_refuses_what_it_cannot_read():
    x, y = _data()
    with pytest.raises(ValueError, match="compiled"):
        diagnose(keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)]), x, y)
    unbuilt = keras.Sequential([keras.layers.Dense(1)])
    unbuilt.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="start it with keras.Input"):
        diagnose(unbuilt, x, y)
    with pytest.raises(TypeError, match="samples=1.5"):
        diagnose(_model("sgd"), x, y, samples=1.5)
    with pytest.raises(ValueError, match="at least one row"):
        diagnose(_model("sgd"), x[:0], y[:0])


WRAPPERS = {
    "plain": lambda rate: keras.optimizers.SGD(rate, momentum=0.9),
    "gradient_clipping": lambda rate: GradientClipping(keras.optimizers.SGD(rate, momentum=0.9), mode=None),
    "cyclic_momentum": lambda rate: CyclicMomentum(
        keras.optimizers.SGD(rate, momentum=0.9), schedule=keras.optimizers.schedules.CosineDecay(0.9, 100)
    ),
    "multipliers": lambda rate: LearningRateMultipliers(
        keras.optimizers.SGD(rate, momentum=0.9), {"hidden": 0.5}
    ),
}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_during_fit_with_every_wrapper_a_slow_rate_is_found_and_a_good_one_is_not(wrapper):
    x, y = _data()
    for rate, expected in ((1e-9, ["learning_rate_too_low"]), (0.05, [])):
        model = _model(WRAPPERS[wrapper](rate))
        callback = Diagnose(x_probe=x[:64], y_probe=y[:64], verbose=0)
        history = model.fit(x, y, epochs=2, verbose=0, callbacks=[callback])
        assert callback.findings.codes == expected, (wrapper, rate, callback.findings)
        assert history.history["diagnosis_findings"] == [len(expected)] * 2


def test_during_fit_it_reads_the_logger_and_finds_a_nan_batch_and_divergence():
    x, y = _data()
    x[5, 0] = np.nan
    # tanh, not ReLU: on tensorflow with oneDNN (x86 with AVX-512), the graph's fused MatMul+BiasAdd+Relu
    # turns NaN into 0, so NaN weights behind a ReLU layer leave the loss finite (see docs/diagnosis.md).
    optimizer = GradientClipping(keras.optimizers.SGD(0.05), mode=None, skip_nonfinite=False)
    model = _model(optimizer, activation="tanh")
    callback = Diagnose(verbose=0)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callback, GradientNormLogger()])
    assert {"nonfinite_gradients", "diverging_loss"} <= set(callback.findings.codes)
    assert all(
        f.severity == "error"
        for f in callback.findings
        if f.code in ("nonfinite_gradients", "diverging_loss")
    )


def test_during_fit_it_defines_no_per_batch_hook_and_prints_the_report(capsys):
    callback = Diagnose(verbose=1)
    assert callback.async_safe
    assert type(callback).on_train_batch_end is keras.callbacks.Callback.on_train_batch_end
    x, y = _data()
    model = _model(keras.optimizers.SGD(1e-9))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[Diagnose(x_probe=x[:32], y_probe=y[:32])])
    out = capsys.readouterr().out
    assert "Diagnosis: 1 problem(s), 0 error(s)." in out and "learning_rate_too_low" in out


def test_during_fit_a_selu_network_that_is_not_self_normalizing_is_found_at_train_begin():
    x, y = _data()
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="selu", kernel_initializer="lecun_normal"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    callback = Diagnose(x_probe=x[:64], verbose=0)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    finding = callback.findings.first("not_self_normalizing")
    assert finding.epoch is None and "BatchNormalization" in str(finding.evidence["problems"])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"x_probe": np.zeros((0, 8))}, ValueError, "x_probe"),
        ({"y_probe": np.zeros(4)}, ValueError, "y_probe needs x_probe"),
        ({"every": 0}, ValueError, "every=0"),
        ({"every": 1.5}, TypeError, "every=1.5"),
        ({"verbose": "yes"}, TypeError, "verbose='yes'"),
    ],
)
def test_bad_arguments_of_the_callback(kwargs, error, match):
    with pytest.raises(error, match=match):
        Diagnose(**kwargs)


def test_thresholds_are_finite_numbers():
    for name, value in T.items():
        values = value if isinstance(value, tuple) else (value,)
        assert all(isinstance(v, float) and math.isfinite(v) for v in values), name
