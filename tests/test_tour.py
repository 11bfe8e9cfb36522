"""The tour's command line (examples/chapter11.py); the tour itself runs in CI as `scripts/tour --quick`."""

import importlib.util
import pathlib

import pytest

_PATH = pathlib.Path(__file__).parents[1] / "examples" / "chapter11.py"
_spec = importlib.util.spec_from_file_location("chapter11", _PATH)
chapter11 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chapter11)


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


def test_every_section_map_entry_is_runnable_or_to_come():
    args = chapter11.parse_args([])
    assert args.sections == list(chapter11.SECTIONS)
    assert not set(chapter11.SECTIONS) & set(chapter11.TO_COME)
