"""examples/schedules.py: the book's schedules, LR finder and 1cycle, on a tiny slice of Fashion-MNIST."""

import pytest
import schedules


def test_the_books_epoch_functions():
    assert schedules.exponential_decay_fn(0) == pytest.approx(0.01)
    assert schedules.exponential_decay_fn(20) == pytest.approx(0.001)
    assert [schedules.piecewise_constant_fn(e) for e in (0, 4, 5, 14, 15, 24)] == [
        0.01, 0.01, 0.005, 0.005, 0.001, 0.001
    ]  # fmt: skip


def test_one_cycle_spans_the_books_25_epochs_at_batch_128():
    schedule = schedules.one_cycle(schedules.SECTION.book, steps_per_epoch=1719)
    assert schedule.total_steps == 25 * 430
    assert float(schedule(0)) == pytest.approx(0.01)
    assert max(float(schedule(step)) for step in range(0, 25 * 430, 43)) == pytest.approx(0.1, rel=0.01)


@pytest.mark.slow
def test_quick_run_rows_learning_rates_and_figures(section_run):
    rows, _, output = section_run("schedules")  # 1,280 images, 1 epoch
    accuracies = [row for row in rows if row.what.endswith("validation accuracy")]
    assert len(accuracies) == 8 and all(0 <= row.ours <= 1 and row.floor for row in accuracies)
    assert accuracies[0].what.startswith("power (PowerDecay") and accuracies[0].book == 0.8714
    finder = [row for row in rows if row.what.startswith("LR finder")]
    assert [row.what.split("rule ")[1] for row in finder] == ["'minimum'", "'steepest'"]
    minimum, default = (row.ours for row in finder)
    assert 1e-5 <= minimum <= 0.1  # a tenth of a rate in the sweep's range
    assert 0.01 <= default <= 1  # 100 steps cycling 1,280 images: near the full data's ~0.1
    for name in ("schedules_curves", "schedules_lr_finder_1cycle"):
        assert (output / f"{name}.png").stat().st_size > 10_000
