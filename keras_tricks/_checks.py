"""The argument checks of every keras-tricks constructor and function: one vocabulary, one style.

A wrong type raises `TypeError`, a wrong value `ValueError`; both name the argument and echo the value
received, as Keras does (`Expected rate in [0, 1). Received: rate=1.5`). `bool` is never a number, and
numbers must be finite unless said otherwise. Constructors run them, so a `.keras` file whose config
was edited to a bad value fails the same way when it is loaded. Each check returns the value in its
canonical type (a float, an int, a str).
"""

import math
import numbers
import os

import numpy as np


def _received(name, value):
    return f"Received: {name}={value!r}"


def _interval(low, high, low_open, high_open):
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    return f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"


def number(name, value, low=None, high=None, low_open=False, high_open=False, allow_none=False):
    """A finite real number in the interval given (bounds `None`: unbounded), as a float."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Expected {name} to be a number. {_received(name, value)}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"Expected {name} to be a finite number. {_received(name, value)}")
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high:
        raise ValueError(
            f"Expected {name} in {_interval(low, high, low_open, high_open)}. {_received(name, value)}"
        )
    return number


def integer(name, value, low=None, high=None, allow_none=False):
    """An integer (not a bool, not a float) in `[low, high]`, as an int."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"Expected {name} to be an integer. {_received(name, value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"Expected {name} {bounds}. {_received(name, value)}")
    return int(value)


def positive_number(name, value, allow_none=False):
    """A finite real number > 0, as a float."""
    return number(name, value, low=0, low_open=True, allow_none=allow_none)


def non_negative_number(name, value, allow_none=False):
    """A finite real number >= 0, as a float."""
    return number(name, value, low=0, allow_none=allow_none)


def positive_int(name, value, allow_none=False):
    """An integer >= 1."""
    return integer(name, value, low=1, allow_none=allow_none)


def non_negative_int(name, value, allow_none=False):
    """An integer >= 0."""
    return integer(name, value, low=0, allow_none=allow_none)


def fraction(name, value, allow_none=True):
    """A number in the open interval (0, 1), or None."""
    return number(name, value, low=0, high=1, low_open=True, high_open=True, allow_none=allow_none)


def momentum(name, value):
    """A momentum coefficient: a real number in [0, 1), as a float."""
    return number(name, value, low=0, high=1, high_open=True)


def boolean(name, value):
    """A bool (not 0 or 1)."""
    if not isinstance(value, bool):
        raise TypeError(f"Expected {name} to be a bool. {_received(name, value)}")
    return value


def string(name, value, allow_none=False):
    """A non-empty str."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise TypeError(f"Expected {name} to be a string. {_received(name, value)}")
    if not value:
        raise ValueError(f"Expected {name} to be a non-empty string. {_received(name, value)}")
    return value


def choice(name, value, options):
    """One of `options` (compared with `==`, types checked so that `1 == True` does not pass)."""
    if not any(type(value) is type(option) and value == option for option in options):
        raise ValueError(f"Expected {name} in {tuple(options)}. {_received(name, value)}")
    return value


def finite_array(name, value):
    """An array (NumPy's view of `value`) whose numbers are all finite; other dtypes pass as they are.

    Once, on the host, before a computation whose result would mean nothing with a NaN or Inf in it (and
    where a backend may hide it: tensorflow's fused Dense+ReLU turns NaN into 0 on oneDNN CPUs).
    """
    array = np.asarray(value)
    if np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all():
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"Expected {name} to hold only finite numbers, but {bad} of its {array.size} values are NaN or "
            f"infinite. Drop or impute them first. Received: {name} of shape {array.shape}"
        )
    return array


def directory(name, value, allow_none=True):
    """A path to a directory that exists or can be created and written to, as a str."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"Expected {name} to be a path (a str or os.PathLike). {_received(name, value)}")
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError(f"Expected {name} to be a str path. {_received(name, value)}")
    if not path:
        raise ValueError(f"Expected {name} to be a non-empty path. {_received(name, value)}")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"Expected {name} to be a directory, but it is a file. {_received(name, value)}")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(
            f"Expected {name} to be a directory that can be created, but {existing!r} on its path is a "
            f"file. {_received(name, value)}"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"Expected {name} to be a directory that can be written to; {existing!r} is not writable. "
            f"{_received(name, value)}"
        )
    return path
