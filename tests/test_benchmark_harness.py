"""The benchmark harness computes interleaved per-round ratios (no timing is asserted here)."""

import keras
import numpy as np

from benchmarks import harness


def _build():
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    return model


def test_compare_interleaves_and_reports_ratios_to_the_baseline():
    order = []

    class Spy(keras.callbacks.Callback):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def on_epoch_begin(self, epoch, logs=None):
            order.append(self.name)

    configs = [
        harness.Config("A", _build, callbacks=lambda: [Spy("A")], batch_size=8),
        harness.Config("B", _build, callbacks=lambda: [Spy("B")], batch_size=8),
    ]
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = np.zeros(32, dtype="int64")
    results = harness.compare(configs, x, y, epochs=2, warmup=1)
    assert order == ["A", "B"] * 3  # warm-up round, then two measured rounds, interleaved
    assert len(results["A"]["cpu_s"]) == len(results["B"]["cpu_s"]) == 2
    assert results["A"]["cpu_ratio"] == 1.0 and results["A"]["wall_ratio"] == 1.0
    expected = np.median(np.array(results["B"]["wall_s"]) / np.array(results["A"]["wall_s"]))
    assert np.isclose(results["B"]["wall_ratio"], expected)


def test_book_mlp_is_the_books_architecture():
    model = harness.book_mlp()
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [100, 100, 100, 10]
    assert model.count_params() == 784 * 100 + 100 + 2 * (100 * 100 + 100) + 100 * 10 + 10


def test_compare_callables_interleaves_and_reports_ratios_to_the_baseline():
    order = []

    def work(name):  # enough work that CPU time is never 0, which would make the ratio undefined
        return lambda: order.append(name) or sum(range(20000))

    callables = [harness.Timed("A", work("A")), harness.Timed("B", work("B"))]
    results = harness.compare_callables(callables, rounds=3, warmup=1)
    assert order == ["A", "B"] * 4
    assert len(results["B"]["wall_s"]) == 3 and results["A"]["cpu_ratio"] == 1.0
    expected = np.median(np.array(results["B"]["wall_s"]) / np.array(results["A"]["wall_s"]))
    assert np.isclose(results["B"]["wall_ratio"], expected)


def test_the_spread_of_the_median_comes_from_the_rounds():
    # Identical rounds leave no doubt about the median; scattered rounds widen the interval around it.
    assert harness.median_spread([1.1] * 7) == [1.1, 1.1]
    low, high = harness.median_spread([0.9, 1.0, 1.05, 1.1, 1.2, 1.4, 2.0])
    assert 0.9 <= low <= 1.1 <= high <= 2.0 and high - low > 0.05
    assert harness.median_spread([1.3]) == [1.3, 1.3]
    # Reproducible from the rounds alone (a fixed seed).
    assert harness.median_spread([1.0, 1.2, 0.9, 1.4]) == harness.median_spread([1.0, 1.2, 0.9, 1.4])


def test_a_batch_size_other_than_the_books_names_its_own_results(monkeypatch):
    written = {}
    monkeypatch.setattr(
        harness, "run_per_backend", lambda name, backends, argv: written.setdefault("name", name) and {}
    )
    monkeypatch.setattr(harness, "write_results", lambda name, runs, table: None)
    monkeypatch.setattr(harness, "_markdown", lambda name, description, runs: "")
    harness.main("bench", "", lambda args: None, ["--batch-size", "128", "--backends", "jax"])
    assert written["name"] == "bench-b128"
    written.clear()
    harness.main("bench", "", lambda args: None, ["--backends", "torch", "--tag", "torch"])
    assert written["name"] == "bench-torch"
