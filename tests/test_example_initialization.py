"""examples/initialization.py: Figure 11-1, the untrained signal, and a tiny quick run on the real data."""

import initialization
import pytest


def _value(rows, *parts):
    (row,) = [row for row in rows if all(part in row.what for part in parts)]
    return row.ours


@pytest.mark.slow
def test_untrained_signal_table_11_1_against_normal(section_run):
    rows = [row for row in section_run("initialization")[0] if row.what.startswith("untrained")]
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
def test_quick_run_shows_the_gradient_vanishing_in_the_glorot_sigmoid_net(section_run):
    rows, _, output = section_run("initialization")  # 6-layer nets, 512 images, 1 epoch

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
        assert (output / f"{name}.png").stat().st_size > 10_000
