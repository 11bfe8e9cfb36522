"""examples/lr_decay.py: the lesson's ×0.98 per epoch against a constant rate, on a tiny slice."""

import lr_decay
import pytest


def test_the_schedule_is_constant_within_an_epoch_and_times_098_across():
    import keras

    schedule = lr_decay.per_epoch_decay(steps_per_epoch=10)
    rates = keras.ops.convert_to_numpy(schedule(keras.ops.arange(30)))
    assert rates[:10] == pytest.approx([0.01] * 10)
    assert rates[10:20] == pytest.approx([0.0098] * 10)
    assert rates[29] == pytest.approx(0.01 * 0.98**2)


@pytest.mark.slow
def test_quick_run_logs_the_decayed_rate(section_run):
    (constant, decayed, difference, rate), histories, output = section_run("lr-decay")  # 640 images, 3 epochs
    assert 0.3 <= constant.ours <= 1 and 0.3 <= decayed.ours <= 1
    assert difference.ours == pytest.approx(decayed.ours - constant.ours)
    assert rate.ours == pytest.approx(0.01 * 0.98**3, rel=1e-5)  # the rate the next step would use
    constant_rates, decayed_rates = (h.history["learning_rate"] for h in histories)
    assert constant_rates == pytest.approx([0.01] * 3, rel=1e-6)  # logged at each epoch's end
    assert decayed_rates == pytest.approx([0.01 * 0.98**epoch for epoch in (1, 2, 3)], rel=1e-5)
    assert (output / "lr_decay_curves.png").stat().st_size > 10_000
