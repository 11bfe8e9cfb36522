"""keras_tricks.diagnostics: measuring the signal through a network, as chapter 11 diagnoses it.

`activation_stats(model, x)` gives per-layer mean, standard deviation, saturated and dead fractions and
histograms of the layers' outputs on a batch; `keras_tricks.callbacks.ActivationStats` logs them during
`fit`, and `keras_tricks.plot` draws them. `variable_keys(model)` gives the key under which keras-tricks logs
each variable (`grad_norm/<key>`).
"""

from keras_tricks._layers import keys_by_path as variable_keys
from keras_tricks.diagnostics._activation_stats import activation_stats

__all__ = ["activation_stats", "variable_keys"]
