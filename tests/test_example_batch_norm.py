"""examples/batch_norm.py: the book's two BN models, and a tiny quick run on the real data."""

import argparse
import importlib.util
import pathlib

import keras
import pytest

_PATH = pathlib.Path(__file__).parents[1] / "examples" / "batch_norm.py"
_spec = importlib.util.spec_from_file_location("batch_norm", _PATH)
batch_norm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(batch_norm)


def test_bn_after_the_activations_is_the_books_model():
    model = batch_norm.bn_model("after")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten", *["BatchNormalization", "Dense"] * 3]
    assert batch_norm.parameter_counts(model) == (271_346, 2_368)  # the book's model.summary()


def test_bn_before_the_activations_drops_the_redundant_bias():
    model = batch_norm.bn_model("before")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten", *["Dense", "BatchNormalization", "Activation"] * 2, "Dense"]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.use_bias for layer in dense] == [False, False, True]
    assert batch_norm.parameter_counts(model) == (267_810, 800)


def test_unknown_placement_is_refused():
    with pytest.raises(ValueError, match="Received: where='middle'"):
        batch_norm.bn_model("middle")


@pytest.mark.slow
def test_quick_run_rows_and_figure(tmp_path, monkeypatch):
    monkeypatch.setattr(batch_norm, "SAMPLES", 1024)
    rows = batch_norm.run(argparse.Namespace(full=False, output=str(tmp_path)), 42)
    assert [row.book for row in rows] == ["271,346 (2,368)", 0.8650, None, 0.8646]
    assert rows[0].ours == "271,346 (2,368)"
    accuracies = [rows[1].ours, rows[3].ours]
    assert all(0.3 < accuracy <= 1 for accuracy in accuracies)  # learns (chance: 0.1) in 32 steps
    assert (tmp_path / "batch_norm.png").stat().st_size > 10_000
