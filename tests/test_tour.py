"""The tour's command line (examples/chapter11.py); the tour itself runs in CI as `scripts/tour --quick`."""

import dataclasses
import pathlib

import chapter11
import pytest
import sections
from _common import Settings

ROOT = pathlib.Path(__file__).parents[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sections", "dropuot"], "unknown section(s) dropuot. Valid sections: data, baseline"),
        (["--seeds", "0"], "--seeds must be >= 1. Received: --seeds 0"),
        (["--backend", "mxnet"], "unknown backend 'mxnet'. Valid backends: jax, tensorflow, torch"),
        (["--quick", "--full"], "choose --quick or --full"),
    ],
)
def test_bad_command_lines_get_a_usage_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        chapter11.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_tour_runs_every_registered_section_by_default():
    assert chapter11.parse_args([]).sections == list(sections.SECTIONS)
    assert all(callable(section.run) for section in sections.SECTIONS.values())


def _stand_in(monkeypatch, run):
    """Replaces the `data` section's `run` with `run(args, seed, settings)` for one test."""
    monkeypatch.setitem(sections.SECTIONS, "data", dataclasses.replace(sections.SECTIONS["data"], run=run))


def test_the_quick_and_full_runs_get_the_sections_own_settings(tmp_path, monkeypatch):
    received = []

    def section(args, seed, settings):
        received.append(settings)
        return [("learned", None, 0.8, 0.5)]

    monkeypatch.setitem(
        sections.SECTIONS,
        "data",
        dataclasses.replace(
            sections.SECTIONS["data"], run=section, quick=Settings(10, 1), book=Settings(None, 5)
        ),
    )
    chapter11.main(["--sections", "data", "--output", str(tmp_path)])
    chapter11.main(["--sections", "data", "--full", "--output", str(tmp_path)])
    assert received == [Settings(10, 1), Settings(None, 5)]


def test_a_model_below_its_sanity_floor_fails_the_quick_run(tmp_path, monkeypatch):
    def section(args, seed, settings):
        return [("learned nothing", 0.8, 0.1, 0.5), ("no floor", None, 0.1)]

    _stand_in(monkeypatch, section)
    with pytest.raises(SystemExit) as exit_info:
        chapter11.main(["--sections", "data", "--output", str(tmp_path)])
    assert exit_info.value.code == 1
    table = (tmp_path / "reproduction.md").read_text()
    assert "| data | learned nothing | 0.8000 | 0.1000 | quick run: not comparable |" in table


def test_full_run_verdicts_compare_with_the_book(tmp_path, monkeypatch):
    def section(args, seed, settings):
        return [("close", 0.80, 0.79 + 0.01 * (seed - 42)), ("far", 0.90, 0.85)]

    _stand_in(monkeypatch, section)
    chapter11.main(["--sections", "data", "--full", "--seeds", "3", "--output", str(tmp_path)])
    table = (tmp_path / "reproduction.md").read_text()
    assert "| close | 0.8000 | 0.8000 ± 0.0100 (3 seeds) | within 1.5 pp (+0.0 pp) |" in table
    assert "| far | 0.9000 | 0.8500 ± 0.0000 (3 seeds) | -5.0 pp: see docs/chapter11.md |" in table


def test_it_tells_where_the_table_and_the_figures_are(tmp_path, monkeypatch, capsys):
    def section(args, seed, settings):
        (tmp_path / "a_figure.png").write_bytes(b"")
        return [("learned", 0.8, 0.8, 0.5)]

    _stand_in(monkeypatch, section)
    chapter11.main(["--sections", "data", "--output", str(tmp_path)])
    out = capsys.readouterr().out
    assert f"Table written to {tmp_path / 'reproduction.md'}" in out
    assert f"Figures (1 PNG) in {tmp_path}: a_figure.png." in out


def test_a_text_result_that_varies_over_seeds_is_marked_as_the_first_seeds(tmp_path, monkeypatch):
    def section(args, seed, settings):
        return [("norms", None, f"{seed} / 1"), ("count", None, "6")]

    _stand_in(monkeypatch, section)
    chapter11.main(["--sections", "data", "--full", "--seeds", "2", "--output", str(tmp_path)])
    table = (tmp_path / "reproduction.md").read_text()
    assert "| norms | — | 42 / 1 (first seed) | measured |" in table
    assert "| count | — | 6 | measured |" in table


def test_missing_data_gets_the_data_loaders_message(tmp_path, monkeypatch):
    import keras

    import keras_tricks.datasets
    from keras_tricks.datasets import DatasetError, load_fashion_mnist

    def offline(*args, **kwargs):
        raise Exception("no network")  # what Keras raises on a failed download

    def nowhere(pixels="unit"):
        return load_fashion_mnist(pixels, cache_dir=str(tmp_path / "cache"), debian_dir=str(tmp_path / "no"))

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    monkeypatch.setattr(keras_tricks.datasets, "load_fashion_mnist", nowhere)
    with pytest.raises(DatasetError, match="sudo apt-get install dataset-fashion-mnist"):
        chapter11.main(["--sections", "data", "--output", str(tmp_path / "out")])


def test_the_backend_is_the_environments_unless_given(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert chapter11.parse_args([]).backend == "torch"
    assert chapter11.parse_args(["--backend", "tensorflow"]).backend == "tensorflow"
    monkeypatch.delenv("KERAS_BACKEND")
    assert chapter11.parse_args([]).backend == "jax"


def test_help_answers_at_once_without_the_set_up():
    import subprocess
    import time

    start = time.monotonic()
    out = subprocess.run(
        ["scripts/tour", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0 and "usage: chapter11.py" in out.stdout
    assert "Installing" not in out.stderr and time.monotonic() - start < 10
