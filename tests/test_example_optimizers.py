"""examples/optimizers.py: the book's nine optimizers, run on a tiny slice of the real Fashion-MNIST."""

import optimizers
import pytest


def test_the_optimizers_have_the_books_settings():
    settings = {name: (book, optimizer.get_config()) for name, book, optimizer, _ in optimizers.optimizers()}
    assert list(settings) == [
        "SGD", "momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam", "AdaMax", "Nadam", "AdamW"
    ]  # fmt: skip
    assert all(config["learning_rate"] == pytest.approx(0.001) for _, config in settings.values())
    assert settings["SGD"][1]["momentum"] == 0.0 and settings["SGD"][0] is None
    assert settings["momentum"][1]["momentum"] == pytest.approx(0.9)
    assert settings["Nesterov"][1]["nesterov"] is True
    assert settings["RMSProp"][1]["rho"] == pytest.approx(0.9)
    assert settings["AdamW"][1]["weight_decay"] == pytest.approx(1e-5)
    assert settings["momentum"][0] == 0.8672 and settings["AdaMax"][0] == 0.8780


@pytest.mark.slow
def test_quick_run_gives_a_row_per_optimizer_and_the_learning_curves(section_run):
    rows, _, output = section_run("optimizers")  # 1,000 images, 1 epoch
    rows = {row.what.split(",")[0]: row for row in rows}
    assert len(rows) == 9 and all(0 <= row.ours <= 1 for row in rows.values())
    assert rows["Adam"].what == "Adam, 1 epochs: validation accuracy" and rows["Adam"].book == 0.8696
    # 32 steps at a rate of 1e-3: plain SGD has barely moved, Adam has learned.
    assert rows["Adam"].ours > rows["SGD"].ours + 0.2
    assert (output / "optimizers_learning_curves.png").stat().st_size > 10_000
