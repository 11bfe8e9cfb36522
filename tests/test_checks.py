"""keras_tricks._checks: the argument checks every constructor runs. A wrong type raises `TypeError`, a
wrong value `ValueError`, both naming the argument and echoing the value as Keras does
(`Received: rate=1.5`); `bool` is never a number; numpy scalars pass; each check returns the canonical
Python type."""

import fractions
import math
import os
import re

import numpy as np
import pytest

from keras_tricks import _checks


def _received(name, value):
    return re.escape(f"Received: {name}={value!r}")


# number: a finite real, as a float


@pytest.mark.parametrize(
    "value",
    [3, 2.5, np.float32(2.5), np.float64(2.5), np.int64(3), fractions.Fraction(5, 2)],
    ids=["int", "float", "np.float32", "np.float64", "np.int64", "Fraction"],
)
def test_number_accepts_any_real_and_returns_a_python_float(value):
    result = _checks.number("x", value)
    assert type(result) is float
    assert result == float(value)


@pytest.mark.parametrize(
    "value",
    [True, False, np.bool_(True), "1.0", [1.0], np.array([1.0]), None, 1 + 0j],
    ids=["True", "False", "np.bool_", "str", "list", "array", "None", "complex"],
)
def test_number_refuses_what_is_not_a_real_number_with_a_type_error(value):
    with pytest.raises(TypeError, match=rf"Expected x to be a number\. {_received('x', value)}"):
        _checks.number("x", value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_number_refuses_nan_and_infinities_with_a_value_error(value):
    with pytest.raises(ValueError, match=rf"Expected x to be a finite number\. {_received('x', value)}"):
        _checks.number("x", value)


@pytest.mark.parametrize(
    ("kwargs", "inside", "outside", "interval"),
    [
        ({"low": 0, "high": 1}, [0, 0.5, 1], [-1e-9, 1.0000001], "[0, 1]"),
        ({"low": 0, "high": 1, "low_open": True}, [1e-12, 1], [0, -1], "(0, 1]"),
        ({"low": 0, "high": 1, "high_open": True}, [0, 0.999], [1, 2], "[0, 1)"),
        ({"low": 1, "low_open": True}, [1.0001, 1e30], [1, 0.5], "(1, inf)"),
        ({"high": 100}, [-1e30, 100], [100.5], "(-inf, 100]"),
    ],
    ids=["closed", "open-low", "open-high", "low-only", "high-only"],
)
def test_number_bounds_are_inclusive_unless_open_and_the_message_shows_the_interval(
    kwargs, inside, outside, interval
):
    for value in inside:
        assert _checks.number("x", value, **kwargs) == value
    for value in outside:
        with pytest.raises(
            ValueError, match=rf"Expected x in {re.escape(interval)}\. {_received('x', value)}"
        ):
            _checks.number("x", value, **kwargs)


def test_none_passes_only_where_allowed():
    for check in (
        _checks.number,
        _checks.integer,
        _checks.positive_number,
        _checks.non_negative_number,
        _checks.positive_int,
        _checks.non_negative_int,
        _checks.string,
    ):
        assert check("x", None, allow_none=True) is None
        with pytest.raises(TypeError, match=r"Received: x=None"):
            check("x", None)
    # fraction and directory are optional by default; momentum never is
    assert _checks.fraction("x", None) is None
    assert _checks.directory("x", None) is None
    with pytest.raises(TypeError, match=r"Received: x=None"):
        _checks.momentum("x", None)


# integer: an int, not a bool nor a float


@pytest.mark.parametrize("value", [0, 7, np.int32(7), np.int64(-3), np.uint8(7)])
def test_integer_accepts_python_and_numpy_integers_and_returns_a_python_int(value):
    result = _checks.integer("steps", value)
    assert type(result) is int
    assert result == int(value)


@pytest.mark.parametrize("value", [True, np.bool_(False), 3.0, np.float64(3.0), "3", None], ids=repr)
def test_integer_refuses_bools_and_whole_floats_with_a_type_error(value):
    with pytest.raises(TypeError, match=rf"Expected steps to be an integer\. {_received('steps', value)}"):
        _checks.integer("steps", value)


def test_integer_bounds_are_inclusive_and_the_message_says_them():
    assert _checks.integer("steps", 2, low=2) == 2
    assert _checks.integer("steps", 5, low=2, high=5) == 5
    with pytest.raises(ValueError, match=r"Expected steps >= 2\. Received: steps=1$"):
        _checks.integer("steps", 1, low=2)
    with pytest.raises(ValueError, match=r"Expected steps in \[2, 5\]\. Received: steps=6$"):
        _checks.integer("steps", 6, low=2, high=5)
    assert _checks.integer("seed", -(2**40)) == -(2**40)  # unbounded by default


# The named shorthands the constructors use


@pytest.mark.parametrize(
    ("check", "accepted", "refused", "interval"),
    [
        (_checks.positive_number, [1e-12, 3], [0, -1], "(0, inf)"),
        (_checks.non_negative_number, [0, 3], [-1e-12], "[0, inf)"),
        (_checks.fraction, [1e-9, 0.5, 0.999], [0, 1], "(0, 1)"),
        (_checks.momentum, [0, 0.9, 0.999], [1, -0.1], "[0, 1)"),
    ],
    ids=["positive_number", "non_negative_number", "fraction", "momentum"],
)
def test_number_shorthands_have_the_intervals_their_names_say(check, accepted, refused, interval):
    for value in accepted:
        result = check("rate", value)
        assert type(result) is float and result == value
    for value in refused:
        with pytest.raises(ValueError, match=rf"in {re.escape(interval)}\. Received: rate={value}$"):
            check("rate", value)
    with pytest.raises(TypeError, match=r"Received: rate=True"):
        check("rate", True)


def test_integer_shorthands_have_the_lower_bounds_their_names_say():
    assert _checks.positive_int("patience", 1) == 1
    assert _checks.non_negative_int("patience", 0) == 0
    with pytest.raises(ValueError, match=r"Expected patience >= 1\. Received: patience=0$"):
        _checks.positive_int("patience", 0)
    with pytest.raises(ValueError, match=r"Expected patience >= 0\. Received: patience=-1$"):
        _checks.non_negative_int("patience", -1)
    with pytest.raises(TypeError, match=r"Received: patience=1\.0"):
        _checks.positive_int("patience", 1.0)


# boolean, string, choice


def test_boolean_accepts_only_true_and_false_not_zero_or_one():
    assert _checks.boolean("verbose", True) is True
    assert _checks.boolean("verbose", False) is False
    for value in (0, 1, "True", None):
        with pytest.raises(
            TypeError, match=rf"Expected verbose to be a bool\. {_received('verbose', value)}"
        ):
            _checks.boolean("verbose", value)


def test_string_refuses_other_types_and_the_empty_string():
    assert _checks.string("monitor", "val_loss") == "val_loss"
    with pytest.raises(TypeError, match=r"Expected monitor to be a string\. Received: monitor=b'loss'"):
        _checks.string("monitor", b"loss")
    with pytest.raises(ValueError, match=r"Expected monitor to be a non-empty string\. Received: monitor=''"):
        _checks.string("monitor", "")


def test_choice_compares_types_too_so_that_one_is_not_true():
    assert _checks.choice("mode", "min", ("min", "max", "auto")) == "min"
    assert _checks.choice("mode", None, ("global_norm", None)) is None
    assert _checks.choice("flag", True, (True, False)) is True
    with pytest.raises(ValueError, match=r"Expected flag in \(True, False\)\. Received: flag=1$"):
        _checks.choice("flag", 1, (True, False))
    with pytest.raises(ValueError, match=r"Expected n in \(1, 2\)\. Received: n=1\.0$"):
        _checks.choice("n", 1.0, (1, 2))
    with pytest.raises(
        ValueError, match=r"Expected mode in \('min', 'max', 'auto'\)\. Received: mode='maximum'$"
    ):
        _checks.choice("mode", "maximum", ["min", "max", "auto"])  # any iterable; shown as a tuple


# directory


def test_directory_accepts_an_existing_or_creatable_directory_without_creating_it(tmp_path):
    assert _checks.directory("backup_dir", str(tmp_path)) == str(tmp_path)
    later = tmp_path / "a" / "b"
    result = _checks.directory("backup_dir", later)  # os.PathLike in, str out
    assert result == str(later) and type(result) is str
    assert not (tmp_path / "a").exists()


def test_directory_refuses_non_paths_with_a_type_error(tmp_path):
    with pytest.raises(TypeError, match=r"Expected backup_dir to be a path .*Received: backup_dir=3$"):
        _checks.directory("backup_dir", 3)
    with pytest.raises(TypeError, match=r"a path .*Received: backup_dir=b'/tmp'$"):
        _checks.directory("backup_dir", b"/tmp")

    class BytesPath(os.PathLike):
        def __fspath__(self):
            return os.fsencode(str(tmp_path))

        def __repr__(self):
            return "BytesPath()"

    with pytest.raises(TypeError, match=r"to be a str path\. Received: backup_dir=BytesPath\(\)$"):
        _checks.directory("backup_dir", BytesPath())


def test_directory_refuses_an_empty_path_a_file_and_a_path_through_a_file(tmp_path):
    with pytest.raises(ValueError, match=r"non-empty path\. Received: backup_dir=''$"):
        _checks.directory("backup_dir", "")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(ValueError, match=rf"but it is a file\. {_received('backup_dir', str(a_file))}$"):
        _checks.directory("backup_dir", str(a_file))
    below = str(a_file / "state")
    on_path = re.escape(repr(str(a_file)))
    with pytest.raises(
        ValueError, match=rf"but {on_path} on its path is a file\. {_received('backup_dir', below)}$"
    ):
        _checks.directory("backup_dir", below)
    assert not os.path.isdir(below)


def test_directory_refuses_a_path_below_a_directory_it_cannot_write(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    # chmod does not stop root (these tests may run as root): deny the write the way os.access would.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: path != str(locked) and real_access(path, mode))
    target = str(locked / "state")
    with pytest.raises(
        ValueError,
        match=rf"{re.escape(repr(str(locked)))} is not writable\. {_received('backup_dir', target)}$",
    ):
        _checks.directory("backup_dir", target)
    assert _checks.directory("backup_dir", str(tmp_path / "open")) == str(tmp_path / "open")


def test_finite_array_counts_what_is_not_finite_and_lets_other_dtypes_pass():
    values = np.array([[1.0, np.nan], [np.inf, -np.inf]], dtype="float32")
    message = r"Expected x to hold only finite numbers, but 3 of its 4 values .* shape \(2, 2\)"
    with pytest.raises(ValueError, match=message):
        _checks.finite_array("x", values)
    ok = np.arange(6, dtype="float64").reshape(2, 3)
    assert _checks.finite_array("x", ok) is ok
    labels = np.array([0, 1, 2])  # integers, strings: nothing to check
    assert _checks.finite_array("y", labels) is labels
    assert _checks.finite_array("y", ["a", "b"]).tolist() == ["a", "b"]
