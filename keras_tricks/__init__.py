"""keras-tricks: the tricks for training deep networks of chapter 11 of *Hands-On Machine Learning*,
as drop-in pieces for Keras 3 `model.fit`, on the tensorflow, jax and torch backends.

The subpackages mirror Keras: `keras_tricks.initializers`, `.layers`, `.optimizers`, `.schedules`,
`.callbacks`; `keras_tricks.datasets` loads the book's Fashion-MNIST split offline; `keras_tricks.diagnostics`
measures the signal through a network (activation statistics); `keras_tricks.find_learning_rate` runs the
LR finder; `keras_tricks.ensemble_predict` averages several models' outputs.
"""

__version__ = "0.1.0"

from keras_tricks import _backend

_backend.check_backend()

from keras_tricks import (  # noqa: E402  (the backend check must come before Keras is imported)
    callbacks,
    datasets,
    diagnostics,
    initializers,
    layers,
    optimizers,
    plot,
    recipes,
    schedules,
)
from keras_tricks._ensemble import ensemble_predict  # noqa: E402
from keras_tricks.lr_finder import find_learning_rate  # noqa: E402
from keras_tricks.monte_carlo import mc_predict  # noqa: E402

__all__ = [
    "callbacks",
    "datasets",
    "diagnostics",
    "ensemble_predict",
    "find_learning_rate",
    "initializers",
    "layers",
    "mc_predict",
    "optimizers",
    "plot",
    "recipes",
    "schedules",
]
