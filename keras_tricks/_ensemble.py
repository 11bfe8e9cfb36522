import keras
import numpy as np

from keras_tricks import _checks


def ensemble_predict(models, x, weights=None, batch_size=None, verbose=0):
    """Averages the predictions of several models: the lesson's "train several models, average the output".

    Each model predicts `x` with `model.predict`; the result is the (weighted) mean
    ŷ = Σᵢ wᵢ · fᵢ(x) / Σᵢ wᵢ, computed in float64 and returned in the first model's output dtype. For
    classifiers, average probabilities (softmax or sigmoid outputs), not logits, to get the ensemble's
    probabilities. Models with several outputs (lists or dicts) are averaged output by output; every model
    must give the same structure and shapes.

    Args:
        models: List or tuple of `keras.Model`. The members of the ensemble, at least one.
        x: array or structure of arrays. Input data, anything `model.predict` accepts.
        weights: Sequence of non-negative floats or `None`. One weight per model, not all zero; `None`
            weighs them equally. Defaults to `None`.
        batch_size: Integer or `None`. Passed to `model.predict`. Defaults to `None`.
        verbose: Integer. Passed to `model.predict`. Defaults to `0`.

    Returns:
        The averaged predictions, with the structure of one model's `predict` output (NumPy arrays).

    Example:

    >>> import keras, numpy as np
    >>> def member(bias):
    ...     return keras.Sequential([keras.Input((2,)), keras.layers.Dense(
    ...         3, activation="softmax", kernel_initializer="zeros",
    ...         bias_initializer=keras.initializers.Constant(bias))])
    >>> models = [member([0.0, 0.0, 0.0]), member([0.0, 0.0, np.log(4.0)])]
    >>> np.round(ensemble_predict(models, np.zeros((1, 2))), 4)  # (1/3, 1/3, 1/3) and (1/6, 1/6, 2/3)
    array([[0.25, 0.25, 0.5 ]], dtype=float32)
    >>> np.round(ensemble_predict(models, np.zeros((1, 2)), weights=[3, 1]), 4)
    array([[0.2917, 0.2917, 0.4167]], dtype=float32)

    References:
        - Dietterich, T. G. (2000). [Ensemble Methods in Machine Learning](https://doi.org/10.1007/3-540-45014-9_1).
          Multiple Classifier Systems, LNCS 1857.
    """
    if isinstance(models, keras.Model) or not isinstance(models, (list, tuple)):
        raise TypeError(f"Expected models to be a list or tuple of Keras models. Received: models={models!r}")
    if not models:
        raise ValueError(f"Expected at least one model. Received: models={models!r}")
    not_models = [m for m in models if not isinstance(m, keras.Model)]
    if not_models:
        raise TypeError(f"Expected every element of models to be a keras.Model. Received: {not_models!r}")
    if weights is None:
        weights = [1.0] * len(models)
    weights = list(weights)
    if len(weights) != len(models):
        raise ValueError(
            f"Expected one weight per model ({len(models)}). Received: weights={weights} ({len(weights)})"
        )
    weights = [_checks.non_negative_number(f"weights[{i}]", w) for i, w in enumerate(weights)]
    if not sum(weights) > 0:
        raise ValueError(f"Expected finite, non-negative weights, not all zero. Received: weights={weights}")

    outputs = [m.predict(x, batch_size=batch_size, verbose=verbose) for m in models]
    shapes = [keras.tree.map_structure(np.shape, out) for out in outputs]
    if any(shape != shapes[0] for shape in shapes):
        raise ValueError(
            "Expected all models to give outputs of the same shapes. Received: "
            + ", ".join(f"{m.name}: {s}" for m, s in zip(models, shapes, strict=True))
        )
    total = sum(weights)

    def average(*members):
        mean = sum(w * np.asarray(out, "float64") for w, out in zip(weights, members, strict=True)) / total
        return mean.astype(np.asarray(members[0]).dtype)

    return keras.tree.map_structure(average, *outputs)
