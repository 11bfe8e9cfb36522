"""keras_tricks.callbacks: mirrors `keras.callbacks`.

The public names are imported here explicitly and listed in `__all__`; a test keeps the two equal.
"""

from keras_tricks.callbacks.activation_stats import ActivationStats
from keras_tricks.callbacks.diagnose import Diagnose
from keras_tricks.callbacks.early_stopping import EarlyStopping
from keras_tricks.callbacks.gradient_norm_logger import GradientNormLogger
from keras_tricks.callbacks.learning_rate_logger import LearningRateLogger
from keras_tricks.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from keras_tricks.callbacks.swa import SWA
from keras_tricks.callbacks.unfreeze import Unfreeze

__all__ = [
    "ActivationStats",
    "Diagnose",
    "EarlyStopping",
    "GradientNormLogger",
    "LearningRateLogger",
    "ReduceLROnPlateau",
    "SWA",
    "Unfreeze",
]
