"""keras_tricks.diagnostics: measuring the signal through a network, as chapter 11 diagnoses it.

`activation_stats(model, x)` gives per-layer mean, standard deviation, saturated and dead fractions and
histograms of the layers' outputs on a batch; `keras_tricks.callbacks.ActivationStats` logs them during
`fit`, and `keras_tricks.plot` draws them. `variable_keys(model)` gives the key under which keras-tricks logs
each variable (`grad_norm/<key>`).

`diagnose(model, x, y)` reads the evidence before training and names what is wrong, with the chapter's
remedy (a `Diagnosis` of `Finding`s); `keras_tricks.callbacks.Diagnose` does the same during `fit`.
"""

from keras_tricks._layers import keys_by_path as variable_keys
from keras_tricks.diagnostics._activation_stats import activation_stats
from keras_tricks.diagnostics._diagnosis import CODES, THRESHOLDS, Diagnosis, Finding, diagnose

__all__ = ["CODES", "THRESHOLDS", "Diagnosis", "Finding", "activation_stats", "diagnose", "variable_keys"]
