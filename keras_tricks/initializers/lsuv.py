"""Layer-sequential unit-variance initialization (Mishkin & Matas, 2016)."""

import keras
import numpy as np

from keras_tricks import _checks

# The layers LSUV rescales: those with a `kernel` that maps inputs linearly to the output.
_KERNEL_LAYERS = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)


def _check_arguments(model, x_batch, tol, max_iter):
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected model to be a keras.Model. Received: model={model!r}")
    _checks.positive_number("tol", tol)
    _checks.positive_int("max_iter", max_iter)
    x_batch = np.asarray(keras.ops.convert_to_numpy(x_batch))
    if isinstance(model, keras.Sequential) and not model.built:
        model.build((None, *x_batch.shape[1:]))
    try:
        inputs = model.inputs
    except AttributeError:
        inputs = None
    if not inputs:
        raise TypeError(
            "lsuv needs a Sequential or functional model whose layers' outputs it can read; "
            f"received a {type(model).__name__} with no symbolic inputs"
        )
    if len(inputs) != 1:
        raise ValueError(f"lsuv handles models with one input; model has {len(inputs)}")
    expected = tuple(inputs[0].shape)
    received = x_batch.shape
    compatible = len(received) == len(expected) and all(
        e is None or e == r for e, r in zip(expected[1:], received[1:], strict=True)
    )
    if not compatible or received[0] < 1:
        raise ValueError(
            f"Expected x_batch of shape {expected} (the model's input). Received: x_batch.shape={received}"
        )
    return x_batch


def _pre_activation_variance(probe, layer, x_batch):
    # The paper measures the layer's linear output (in Caffe the nonlinearity is a layer of its own).
    # After a bounded activation such as tanh, a variance of 1 is only reached in saturation, so the
    # activation a Keras layer carries is switched off while its output is measured. Functional models
    # call `layer.activation` at call time, so the swap is seen by the eager call below.
    activation = getattr(layer, "activation", None)
    if activation is not None:
        layer.activation = keras.activations.linear
    try:
        output = probe(x_batch, training=False)
    finally:
        if activation is not None:
            layer.activation = activation
    return float(np.var(keras.ops.convert_to_numpy(output)))


def lsuv(model, x_batch, tol=0.1, max_iter=10, seed=None):
    """Initializes `model` in place with LSUV: orthonormal kernels, then unit output variance per layer.

    Mishkin & Matas's "layer-sequential unit-variance" initialization, for any depth and activation:

    1. every `Dense` / `Conv` kernel is drawn from `keras.initializers.Orthogonal` (a conv kernel of shape
       `(k..., c_in, c_out)` is orthonormal as a `(prod(k) * c_in, c_out)` matrix, which is how Keras's
       `Orthogonal` treats any shape with more than two axes);
    2. layer by layer, from input to output: compute the variance `v` of the layer's output on `x_batch`
       (through the sub-model `keras.Model(model.inputs, layer.output)`, so earlier layers already carry
       their final scale) and divide the kernel by `sqrt(v)`, until `|v - 1| < tol` or `max_iter` passes.

    As in the paper (where Caffe's nonlinearities are layers of their own), the variance measured is that
    of the layer's linear output `x @ kernel + bias`, before the activation the Keras layer may carry
    (`Dense(..., activation="tanh")`): after a bounded activation such as tanh a variance of 1 is only
    reached by saturating it. Biases are left as they are. Layers nested inside a sub-model are not
    visited.

    Args:
        model: keras.Model. A Sequential (built, or buildable from `x_batch`'s shape) or functional model
            with one input.
        x_batch: array. One batch of training inputs, shaped like the model's input; a few hundred
            examples are enough.
        tol: float. Tolerance on the output variance, `> 0`. Defaults to `0.1`.
        max_iter: int. Most rescalings per layer, `>= 1`. Defaults to `10`.
        seed: int or None. Seed of the orthonormal start. Defaults to `None`.

    Returns:
        dict. For each rescaled layer, by name and in order: `{"iterations": int, "variance": float,
        "converged": bool}`; `variance` is the output variance measured last (after the last rescaling
        when `converged`), `iterations` the number of rescalings.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((20,))] + [keras.layers.Dense(32, activation="tanh")
    ...                                                  for _ in range(6)] + [keras.layers.Dense(1)])
    >>> x = np.random.default_rng(0).normal(size=(256, 20)).astype("float32")
    >>> report = lsuv(model, x, seed=0)
    >>> all(abs(layer["variance"] - 1) < 0.1 for layer in report.values())
    True

    References:
        - [Mishkin & Matas, 2016, All you need is a good init](https://arxiv.org/abs/1511.06422)
    """
    x_batch = _check_arguments(model, x_batch, tol, max_iter)
    orthogonal = keras.initializers.Orthogonal(seed=seed)
    report = {}
    for layer in model.layers:
        if not isinstance(layer, _KERNEL_LAYERS):
            continue
        kernel = layer.kernel
        kernel.assign(orthogonal(tuple(kernel.shape), dtype=kernel.dtype))
        probe = keras.Model(model.inputs[0], layer.output)
        iterations = 0
        while True:
            variance = _pre_activation_variance(probe, layer, x_batch)
            converged = abs(variance - 1) < tol
            # A zero or non-finite variance cannot be rescaled to 1: report it rather than divide by it.
            if converged or iterations == max_iter or not np.isfinite(variance) or variance == 0:
                break
            kernel.assign(kernel / np.sqrt(variance).astype(kernel.dtype))
            iterations += 1
        report[layer.name] = {"iterations": iterations, "variance": variance, "converged": converged}
    return report
