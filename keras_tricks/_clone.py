"""A copy of a compiled model to try things on (the LR finder's sweep, the diagnosis's trial steps).

The copy (`keras.models.clone_model`: a Sequential or functional model) has the model's weights and is
compiled from the model's compile config with the optimizer given, with no metrics: training it never
touches the model, its weights or its optimizer.
"""

import keras
import numpy as np


def compiled_clone(model, optimizer):
    """`(clone, {model variable path: clone variable path})`, the clone compiled with `optimizer`.

    `optimizer`: a serialized optimizer (a config dict), or a function of the path mapping returning one
    (to name the clone's variables in it).
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected model to be a keras.Model. Received: model={model!r}")
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise ValueError(
            f"Expected a compiled model: call model.compile() first. Received: model={model.name}"
        )
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    paths = dict(zip((v.path for v in model.weights), (v.path for v in clone.weights), strict=True))
    config = optimizer(paths) if callable(optimizer) else optimizer
    compile_config = model.get_compile_config()
    clone.compile_from_config(
        {**compile_config, "optimizer": config, "metrics": None, "weighted_metrics": None}
    )
    return clone, paths


def batches(x, y, batch_size, steps, seed):
    """`steps` batches of `batch_size` rows (all of `x` if it has fewer), cycling through `x` in a new
    random order at each pass; a pass's last rows that do not fill a batch wait for the next pass."""
    rng = np.random.default_rng(seed)
    size = min(batch_size, len(x))
    order = np.empty(0, dtype=int)
    for _ in range(steps):
        if len(order) < size:
            order = np.concatenate([order, rng.permutation(len(x))])
        index, order = order[:size], order[size:]
        yield x[index], (None if y is None else y[index])
