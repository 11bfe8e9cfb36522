"""keras_tricks.callbacks: mirrors `keras.callbacks`.

The public names are imported here explicitly and listed in `__all__`; a test keeps the two equal.
"""

__all__ = []
