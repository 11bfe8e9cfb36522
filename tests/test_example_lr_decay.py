"""examples/lr_decay.py: the lesson's ×0.98 per epoch against a constant rate, on a tiny slice."""

import importlib
import pathlib
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
chapter11 = importlib.import_module("chapter11")
lr_decay = importlib.import_module("lr_decay")


def test_the_schedule_is_constant_within_an_epoch_and_times_098_across():
    import keras

    schedule = lr_decay.per_epoch_decay(steps_per_epoch=10)
    rates = keras.ops.convert_to_numpy(schedule(keras.ops.arange(30)))
    assert rates[:10] == pytest.approx([0.01] * 10)
    assert rates[10:20] == pytest.approx([0.0098] * 10)
    assert rates[29] == pytest.approx(0.01 * 0.98**2)


@pytest.mark.slow
def test_quick_run_logs_the_decayed_rate(tmp_path, monkeypatch):
    monkeypatch.setattr(lr_decay, "QUICK_SAMPLES", 640)
    monkeypatch.setattr(lr_decay, "QUICK_EPOCHS", 3)
    histories = []
    train = lr_decay.train
    monkeypatch.setattr(lr_decay, "train", lambda *a, **k: histories.append(train(*a, **k)) or histories[-1])
    args = chapter11.parse_args(["--output", str(tmp_path)])
    constant, decayed, difference, rate = lr_decay.run(args, 42)
    assert 0.3 <= constant.ours <= 1 and 0.3 <= decayed.ours <= 1
    assert difference.ours == pytest.approx(decayed.ours - constant.ours)
    assert rate.ours == pytest.approx(0.01 * 0.98**3, rel=1e-5)  # the rate the next step would use
    constant_rates, decayed_rates = (h.history["learning_rate"] for h in histories)
    assert constant_rates == pytest.approx([0.01] * 3, rel=1e-6)  # logged at each epoch's end
    assert decayed_rates == pytest.approx([0.01 * 0.98**epoch for epoch in (1, 2, 3)], rel=1e-5)
    assert (tmp_path / "lr_decay_curves.png").stat().st_size > 10_000
