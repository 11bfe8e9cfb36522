"""Argument checks shared by keras-tricks constructors: each names the argument and echoes the value."""

import math
import numbers


def positive_number(name, value):
    """A finite real number > 0, as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Expected {name} to be a number. Received: {name}={value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"Expected {name} to be finite and > 0. Received: {name}={value}")
    return float(value)


def positive_int(name, value):
    """An integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"Expected {name} to be an integer. Received: {name}={value!r}")
    if value < 1:
        raise ValueError(f"Expected {name} >= 1. Received: {name}={value}")
    return int(value)


def fraction(name, value):
    """A number in the open interval (0, 1), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Expected {name} to be a number in (0, 1). Received: {name}={value!r}")
    if not 0 < value < 1:
        raise ValueError(f"Expected {name} in (0, 1). Received: {name}={value}")
    return float(value)


def momentum(name, value):
    """A momentum coefficient: a real number in [0, 1), as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Expected {name} to be a number in [0, 1). Received: {name}={value!r}")
    if not 0 <= value < 1:
        raise ValueError(f"Expected {name} in [0, 1). Received: {name}={value}")
    return float(value)
