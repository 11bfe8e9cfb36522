"""keras_tricks.recipes: the chapter's default configurations (Tables 11-3 and 11-4) and the
self-normalization checklist.

`default_dnn` and `self_normalizing_dnn` return built, uncompiled `keras.Sequential` models;
`suggested_optimizer` returns the optimizer the tables recommend; `check_self_normalizing` lists the
conditions of the book's self-normalization checklist a model breaks.
"""

from keras_tricks.recipes.checks import check_self_normalizing
from keras_tricks.recipes.dnn import default_dnn, self_normalizing_dnn, suggested_optimizer

__all__ = ["check_self_normalizing", "default_dnn", "self_normalizing_dnn", "suggested_optimizer"]
