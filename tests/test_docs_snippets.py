"""Every ```python block of README.md and docs/*.md runs as written, on the backend of the suite.

A block is one of two kinds:

- **runnable** (the default): self-contained (its own imports, tiny synthetic data), it is run in a fresh
  namespace, in a temporary directory of its own, and must not raise;
- **the book's code**, marked by an HTML comment on the line just before its fence, which says what
  Keras 3 does with it:

      <!-- book: Keras 2 code; on Keras 3 it raises ValueError: the start of the message -->
      <!-- book: Keras 2 code; on Keras 3 it warns UserWarning: the start of the message -->
      <!-- book: Keras 2 code; on Keras 3 it runs; on torch it raises RuntimeError: the message -->

  ("on Keras 3" holds for every backend but those named after it). The page's text must say the same
  beside the block: each error or warning, type and message, or that the code runs, in the same
  section. The block is an excerpt of the book's notebook: it is run in that notebook's context
  (`tf`, `keras`, `K`, `np`, `math`, small stand-ins for `X_train`, `y_train`, ..., a compiled `model`,
  `my_model_A.keras`; see `_book_context`), and must raise, warn or run as stated.

All blocks run in one child process (this file, run as a script), one after the other, so that the
backend is imported once; each block then gets a fresh namespace and working directory.
"""

import contextlib
import io
import json
import os
import pathlib
import re
import sys
import tempfile
import time
import traceback
import warnings

import keras
import pytest
import yaml

from tests import helpers

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^```python\s*$")
_BOOK = re.compile(r"^<!-- book: Keras 2 code; (?P<clauses>on Keras 3 it .*) -->$")
_CLAUSE = re.compile(
    r"^on (?P<backend>Keras 3|tensorflow|jax|torch) it "
    r"(?:(?P<verb>raises|warns) (?P<type>\w+): (?P<message>.+)|(?P<runs>runs))$"
)
_HEADING = re.compile(r"^#{1,6} ")


def extract_blocks(path):
    """The ```python blocks of a Markdown page: dicts with `id` (page and line of the fence), `code`,
    `book` (for the book's code `{backend or "Keras 3": [verb, type, message]}`, else `None`) and
    `section` (the prose of the
    section that holds the block)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks, section_start, opened = [], 0, None
    for number, line in enumerate(lines):
        if opened is None and _HEADING.match(line):
            section_start = number
        elif line.startswith("```") and opened is None:
            opened = number
        elif line.startswith("```"):
            if _FENCE.match(lines[opened]):
                marker = _BOOK.match(lines[opened - 1]) if opened else None
                book = _outcomes(marker["clauses"], path, opened) if marker else None
                blocks.append(
                    {
                        "id": f"{path.relative_to(ROOT)}:{opened + 1}",
                        "line": opened + 1,
                        "code": "\n".join(lines[opened + 1 : number]) + "\n",
                        "book": book,
                        "section": _section_text(lines, section_start),
                    }
                )
            opened = None
    return blocks


def _outcomes(clauses, path, line):
    outcomes = {}
    for clause in clauses.split("; "):
        match = _CLAUSE.match(clause)
        assert match, f"{path}:{line}: cannot read {clause!r} (see tests/test_docs_snippets.py)"
        verb = "runs" if match["runs"] else match["verb"]
        outcomes[match["backend"]] = [verb, match["type"], match["message"]]
    return outcomes


def _section_text(lines, start):
    """The prose of the section that starts at `lines[start]`: code blocks and comments left out."""
    text, in_fence = [], False
    for line in lines[start + 1 :]:
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        if not in_fence and _HEADING.match(line):
            break
        if not in_fence and not line.startswith("<!--"):
            text.append(line)
    return " ".join(" ".join(text).replace("`", "").split())


BLOCKS = [block for page in PAGES for block in extract_blocks(page)]
RUNNABLE_BLOCKS = [block for block in BLOCKS if not block["book"]]
BOOK_BLOCKS = [block for block in BLOCKS if block["book"]]


def _id(block):
    return block["id"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Runs every block in one child process; `{block id: result}`."""
    work = tmp_path_factory.mktemp("docs-snippets")
    (work / "blocks.json").write_text(json.dumps(BLOCKS))
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    helpers.run_child(
        __file__,
        work / "blocks.json",
        work / "results.json",
        work,
        backend=keras.backend.backend(),
        env={"MPLBACKEND": "Agg", "PYTHONPATH": path},
        cwd=work,
        timeout=900,
    )
    return json.loads((work / "results.json").read_text())


@pytest.mark.parametrize("block", RUNNABLE_BLOCKS, ids=_id)
def test_block_runs_as_written(block, results):
    result = results[block["id"]]
    assert result["error"] is None, f"{block['id']} failed:\n{result['error']}"


@pytest.mark.parametrize("block", BOOK_BLOCKS, ids=_id)
def test_the_books_code_does_on_keras_3_what_the_page_says(block, results):
    for verb, type_, message in block["book"].values():
        statement = "runs on Keras 3" if verb == "runs" else f"{type_}: {message}".replace("`", "")
        assert statement in block["section"], f"{block['id']}: the page should state {statement!r} beside it"
    backend = keras.backend.backend()
    verb, type_, message = block["book"].get(backend, block["book"]["Keras 3"])
    result = results[block["id"]]
    if verb == "runs":
        assert result["error"] is None, result["error"]
        return
    if verb == "raises":
        assert result["raised"] is not None, f"{block['id']} ran without raising {type_}"
        assert result["raised"][0] == type_ and result["raised"][1].startswith(message), result["error"]
    else:
        assert result["error"] is None, result["error"]
        assert any(w[0] == type_ and w[1].startswith(message) for w in result["warnings"]), result["warnings"]


def test_home_page_and_guides_open_with_a_runnable_example():
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    guides = [
        page for entry in nav if "Guides" in entry for item in entry["Guides"] for page in item.values()
    ]
    assert len(guides) >= 10, guides
    for name in ["index.md", *guides]:
        text = (ROOT / "docs" / name).read_text()
        first_section = re.split(r"^## ", text, maxsplit=1, flags=re.MULTILINE)[0]
        assert "\n```python\n" in first_section, f"docs/{name} should open with a runnable example"
        opening = [b for b in BLOCKS if b["id"] == f"docs/{name}:{b['line']}"][0]
        assert not opening["book"], f"docs/{name} opens with the book's code, not a runnable example"


def test_included_files_bring_no_heading_into_the_page():
    """A page that includes a results file (`--8<-- "path:first line:"`) leaves out the file's own title."""
    includes = 0
    for page in PAGES:
        for match in re.finditer(r'^--8<-- "([^":]+)(?::(\d+):)?"$', page.read_text(), re.MULTILINE):
            includes += 1
            lines = (ROOT / match[1]).read_text().split("\n")[int(match[2] or 1) - 1 :]
            headings = [line for line in lines if _HEADING.match(line)]
            assert not headings, f"{page.name} includes {match[1]} with its heading {headings[0]!r}"
    assert includes


# The child process: runs the blocks and writes what each did.


def _book_context():
    """What the book's notebook has defined when its code runs: its imports and, as small stand-ins,
    its data and a compiled Fashion-MNIST model; `my_model_A.keras` in the working directory."""
    import math

    import keras
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(42)

    def images(n):
        return rng.random((n, 28, 28), dtype="float32")

    model = keras.Sequential(
        [keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    model.save("my_model_A.keras")
    return {
        "math": math,
        "np": np,
        "tf": tf,
        "keras": keras,
        "K": tf.keras.backend,
        "X_train": images(256),
        "y_train": rng.integers(0, 10, 256),
        "X_valid": images(64),
        "y_valid": rng.integers(0, 10, 64),
        "X_test": images(64),
        "y_test": rng.integers(0, 10, 64),
        "X_train_B": images(32),
        "y_train_B": rng.integers(0, 2, 32).astype("float32"),
        "X_valid_B": images(16),
        "y_valid_B": rng.integers(0, 2, 16).astype("float32"),
        "model": model,
    }


def _run(block, work):
    import keras

    directory = tempfile.mkdtemp(dir=work)
    os.chdir(directory)
    keras.backend.clear_session(free_memory=False)
    result = {"error": None, "raised": None, "warnings": [], "seconds": 0.0}
    start = time.perf_counter()
    output = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(output):
        warnings.simplefilter("always")
        try:
            namespace = {"__name__": "__main__", **(_book_context() if block["book"] else {})}
            exec(compile(block["code"], block["id"], "exec"), namespace)
        except Exception as error:
            result["raised"] = [type(error).__name__, str(error)]
            result["error"] = traceback.format_exc()
    result["warnings"] = [[w.category.__name__, str(w.message)] for w in caught]
    result["seconds"] = round(time.perf_counter() - start, 2)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
    return result


def main(blocks_path, results_path, work):
    blocks = json.loads(pathlib.Path(blocks_path).read_text())
    results = {block["id"]: _run(block, work) for block in blocks}
    pathlib.Path(results_path).write_text(json.dumps(results, indent=1))
    slowest = sorted(results.items(), key=lambda item: -item[1]["seconds"])[:5]
    print("slowest blocks:", ", ".join(f"{name} {r['seconds']} s" for name, r in slowest), file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:])
