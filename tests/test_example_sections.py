"""examples/sections.py: every section of the tour on one contract, and each one run small.

The section's own test module (tests/test_example_<section>.py) checks what its rows say; here, what every
section owes the tour, read from the registry alone: no knob of any script is named.
"""

import ast
import math
import pathlib

import pytest
import sections
from _common import Row, Section, Settings

EXAMPLES = pathlib.Path(__file__).parents[1] / "examples"
DOCS = pathlib.Path(__file__).parents[1] / "docs"
SCRIPTS = sorted(path for path in EXAMPLES.glob("*.py") if "\nSECTION = Section(" in path.read_text())


def test_the_registry_lists_every_section_script_once_under_its_own_name():
    assert list(sections.SECTIONS)[:2] == ["data", "baseline"]
    registered = {section.run.__module__ for section in sections.SECTIONS.values()}
    assert registered == {"sections", *(path.stem for path in SCRIPTS)}
    for name, section in sections.SECTIONS.items():
        assert isinstance(section, Section) and section.name == name
        assert (DOCS / section.page).is_file(), section.page


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_a_section_edits_no_sys_path_and_imports_no_other_section(script):
    source = script.read_text()
    assert "sys.path" not in source
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {path.stem for path in SCRIPTS} - {script.stem}


@pytest.mark.parametrize("name", list(sections.SECTIONS))
def test_settings_shrink_from_book_to_quick_to_smoke(name):
    section = sections.SECTIONS[name]

    def size(settings):  # None: all the images, or each experiment's book epochs
        return tuple(math.inf if value is None else value for value in (settings.samples, settings.epochs))

    assert section.book.extra.keys() == section.quick.extra.keys() == section.smoke.extra.keys()
    for larger, smaller in ((section.book, section.quick), (section.quick, section.smoke)):
        assert all(s <= g for s, g in zip(size(smaller), size(larger), strict=True))


def test_settings_are_replaced_by_name_and_refuse_an_unknown_knob():
    quick = Settings(samples=5_000, epochs=2, extra={"depth": 20})
    assert quick.replace(samples=None, depth=6) == Settings(None, 2, {"depth": 6})
    assert quick.epochs_for(25) == 2 and quick.replace(epochs=None).epochs_for(25) == 25
    with pytest.raises(ValueError, match=r"Received: \['dpeth'\]"):
        quick.replace(dpeth=6)
    with pytest.raises(ValueError, match="Received: samples=0"):
        Settings(samples=0, epochs=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(sections.SECTIONS))
def test_each_section_runs_small_and_gives_well_formed_rows(name, section_run):
    rows, _, _ = section_run(name)
    assert rows and all(isinstance(row, Row) and row.what for row in rows)
    assert len({row.what for row in rows}) == len(rows)  # the tour keys its table by `what`
    for row in rows:
        assert row.book is None or isinstance(row.book, (float, str)), row
        assert isinstance(row.ours, (int, float, str)), row
        if isinstance(row.ours, float):
            assert math.isfinite(row.ours), row
        # A floored row is an accuracy. Its floor is the quick run's (scripts/tour --quick in CI): a run
        # this small may stay at chance (AGC at λ = 0.01 does, on 512 images), so here: a fraction.
        if row.floor is not None:
            assert 0 < row.floor < 1 and 0 <= row.ours <= 1, row
