"""examples/initialization.py: Figure 11-1, the untrained signal, and a tiny quick run on the real data."""

import argparse
import importlib.util
import pathlib

import pytest

_PATH = pathlib.Path(__file__).parents[1] / "examples" / "initialization.py"
_spec = importlib.util.spec_from_file_location("initialization", _PATH)
initialization = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(initialization)


def _value(rows, *parts):
    (row,) = [row for row in rows if all(part in row.what for part in parts)]
    return row.ours


def test_untrained_signal_table_11_1_against_normal():
    rows = initialization.untrained_signal(seed=0)
    assert len(rows) == 4 and all(row.book is None for row in rows)
    # N(0, 1) saturates tanh and blows ReLU's signal up; Glorot and He keep it at the input's scale.
    assert _value(rows, "tanh", "N(0, 1)") > 0.5 > 0.05 > _value(rows, "tanh", "GlorotNormal")
    assert _value(rows, "relu", "N(0, 1)") > 20 and abs(_value(rows, "relu", "HeNormal")) < 1


def test_figure_11_1_draws_the_sigmoid_and_its_derivative():
    figure = initialization.figure_11_1()
    sigmoid, derivative = figure.axes[0].lines[:2]
    assert sigmoid.get_ydata().min() > 0 and sigmoid.get_ydata().max() < 1
    assert derivative.get_ydata().max() == pytest.approx(0.25, abs=1e-3)


@pytest.mark.slow
def test_quick_run_shows_the_gradient_vanishing_in_the_glorot_sigmoid_net(tmp_path, monkeypatch):
    monkeypatch.setattr(initialization, "DEPTH", 6)
    monkeypatch.setattr(initialization, "SAMPLES", 512)
    monkeypatch.setattr(initialization, "QUICK_EPOCHS", 1)
    rows = initialization.run(argparse.Namespace(full=False, output=str(tmp_path)), 42)

    assert len(rows) == 4 + 3 * len(initialization.SETTINGS)
    for setting in initialization.SETTINGS:
        assert 0 <= _value(rows, f"6-layer {setting},", "validation accuracy") <= 1
        assert 0 <= _value(rows, f"6-layer {setting}:", "outputs, mean over hidden layers") <= 1
    floors = {row.what: row.floor for row in rows if "validation accuracy" in row.what}
    assert floors["6-layer ReLU, He, SGD 0.01: validation accuracy"] == 0.5
    # The lower layers of the Glorot sigmoid net get gradients orders of magnitude smaller than the top
    # ones; ReLU + He keeps them alike; N(0, 1) sigmoids saturate instead.
    glorot = _value(rows, "sigmoid, Glorot:", "log10 of the gradient norm ratio")
    he = _value(rows, "ReLU, He:", "log10 of the gradient norm ratio")
    assert glorot > 2 and abs(he) < 1
    saturated_normal = _value(rows, "sigmoid, N(0, 1):", "saturated")
    assert saturated_normal > 0.2 > _value(rows, "sigmoid, Glorot:", "saturated")
    for name in ("figure_11_1_sigmoid", "initialization_gradient_norms", "initialization_saturation"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
