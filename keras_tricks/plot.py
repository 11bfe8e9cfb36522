"""Figures for the chapter's diagnostics, drawn with matplotlib (the optional extra `plot`).

Every function takes an optional `ax` (a matplotlib `Axes`) and returns the `Axes` it drew on, so figures
compose and tests can inspect what was drawn.
"""

__all__ = []


def _pyplot():
    """Imports matplotlib's pyplot, or says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "keras_tricks.plot needs matplotlib: install keras-tricks[plot] "
            "(pip install 'keras-tricks[plot]') to draw this figure."
        ) from None
    return plt


def _axes(ax):
    return ax if ax is not None else _pyplot().subplots()[1]
