"""keras_tricks.initializers: mirrors `keras.initializers`.

The public names are imported here explicitly and listed in `__all__`; a test keeps the two equal.
"""

__all__ = []
