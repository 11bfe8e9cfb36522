"""examples/diagnosis.py on the real Fashion-MNIST, in the reduced form CI runs on every backend.

The pre-flight of every configuration of the panel (1,000 images): each broken one gets its code, no
healthy one an error; then the fits where only training shows the problem (overfitting) and two healthy
fits. The full panel (3,000 images, every fit) is the script's, its tables in examples/results/.
"""

import diagnosis  # examples/ is importable in the tests (tests/conftest.py)
import pytest

pytestmark = pytest.mark.slow


def _preflight(name, samples=1000, seed=42):
    import keras

    from keras_tricks.diagnostics import diagnose
    from keras_tricks.optimizers import GradientClipping, unwrap

    expected, build, optimizer, pixels, _, images = diagnosis.PANEL[name]
    x, y, _, _ = diagnosis.data(pixels, images or samples)
    model = build(seed)
    inner = optimizer()
    if unwrap(inner, GradientClipping) is None:
        inner = GradientClipping(inner, mode=None)
    model.compile(optimizer=inner, loss="sparse_categorical_crossentropy")
    found = diagnose(model, x, y, seed=seed)
    keras.backend.clear_session(free_memory=False)
    return expected, found


@pytest.mark.parametrize(
    "name",
    [n for n, c in diagnosis.PANEL.items() if c[0] != "overfitting"],
)
def test_the_pre_flight_finds_each_broken_configuration_and_no_error_in_a_healthy_one(name):
    expected, found = _preflight(name)
    if expected is None:
        assert not found.errors, found.report()
    else:
        assert expected in found.codes, found.report()


@pytest.mark.parametrize("name", ["large_net_200_images", "book_mlp", "selu_lecun_20"])
def test_during_fit(name):
    result = diagnosis.run_config(name, samples=1000)
    ok, why = diagnosis.verdict(result)
    assert ok, (why, result["fit"])
