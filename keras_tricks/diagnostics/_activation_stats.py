"""`activation_stats`: the chapter's vanishing/exploding-signal check, layer by layer.

`activation_stats(model, x)` runs one forward pass (inference mode) and measures, for every layer, the
statistics chapter 11 reads off Figure 11-1: how spread the outputs are, how many sit on the flat
asymptotes of a saturating activation (where its gradient vanishes), how many are the exact zeros of a
ReLU (dead), and their histogram.

Thresholds, chosen where the derivative has fallen to about 1/25 of its maximum:

- saturated: sigmoid and hard sigmoid outputs within `0.01` of 0 or 1 (σ'(z) = σ(1 − σ) < 0.0099,
  i.e. |z| > 4.6), tanh and hard tanh outputs within `0.01` of ±1 (tanh' < 0.02, |z| > 3.0);
- dead: ReLU and ReLU6 outputs exactly `0` (their gradient is 0 there); `dead_units` is the fraction of
  units (last axis) that are zero for every example of `x`.

For other activations (linear, ELU, SELU, GELU, ...) `saturated` and `dead` are `None`.
"""

import keras
import numpy as np

from keras_tricks import _checks, _layers

SATURATION_MARGIN = 0.01

# activation name → the asymptotes it saturates at
SATURATING = {
    "sigmoid": (0.0, 1.0),
    "hard_sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "hard_tanh": (-1.0, 1.0),
}
DYING = ("relu", "relu6")


def activation_stats(model, x, bins=50):
    """Per-layer statistics of the outputs of `model` on `x`, in one forward pass (inference mode).

    For each layer (in the order of `model.layers`, input layers left out), the values of its output
    on `x`, flattened, give:

    - `mean`, `std`;
    - `saturated`: the fraction within 0.01 of an asymptote of a sigmoid / hard sigmoid (0, 1) or a
      tanh / hard tanh (±1) activation, else `None`;
    - `dead`: the fraction of exact zeros of a ReLU / ReLU6 activation, and `dead_units` the fraction
      of units zero on every example, else `None`;
    - `histogram`: a dict with `counts` (`bins` integers) and `edges` (`bins + 1` floats); the range
      is the activation's own ((0, 1) or (−1, 1)) for saturating activations, so histograms of
      different epochs line up, and the data's range otherwise.

    The activation of a layer is its `activation` attribute (`Dense(..., activation="sigmoid")`,
    `Activation("tanh")`) or a `ReLU` layer; it is reported as `activation` (its name, or `None`).

    Args:
        model: keras.Model. A built Sequential or functional model.
        x: array or structure of arrays. A batch of inputs (a probe batch: it goes through the model in
            one call).
        bins: int. Number of histogram bins. Defaults to `50`.

    Returns:
        A dict from layer name to a dict of the statistics above.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((3,)),
    ...     keras.layers.Dense(4, activation="relu", kernel_initializer="ones", name="hidden"),
    ...     keras.layers.Dense(1, activation="sigmoid", kernel_initializer="ones", name="out")])
    >>> stats = activation_stats(model, np.array([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]]), bins=4)
    >>> stats["hidden"]["dead"], stats["hidden"]["dead_units"]
    (0.5, 0.0)
    >>> stats["out"]["saturated"], stats["out"]["histogram"]["counts"].tolist()
    (0.5, [0, 0, 1, 1])

    References:
        Géron, *Hands-On Machine Learning*, 3rd ed., chapter 11, "The Vanishing/Exploding Gradients
        Problems" (Figure 11-1).
        Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural networks",
        AISTATS 2010 ([PDF](https://proceedings.mlr.press/v9/glorot10a/glorot10a.pdf)).
    """
    check_bins(bins)
    check_probe(x, "x")
    probe, activations = probe_model(model)
    return stats_from_outputs(probe(x, training=False), activations, bins)


def check_bins(bins):
    _checks.positive_int("bins", bins)


def check_probe(x, argument):
    """Raises `ValueError` if `x` holds no example."""
    arrays = keras.tree.flatten(x)
    if not arrays or any(np.ndim(a) == 0 or np.shape(a)[0] == 0 for a in arrays):
        shapes = [np.shape(a) for a in arrays]
        raise ValueError(
            f"Expected {argument} to be a non-empty batch of inputs. "
            f"Received: {argument} with shapes {shapes}"
        )


def probe_model(model):
    """A model with the inputs of `model` and a dict of its layers' outputs; and each layer's activation."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected model to be a keras.Model. Received: model={model!r}")
    try:
        inputs = model.input  # a functional model's input structure (one tensor, list or dict)
    except (AttributeError, ValueError):
        # A Sequential model started with keras.Input has `inputs` but no `input` until it is called.
        inputs = getattr(model, "inputs", None)
        inputs = inputs[0] if inputs and len(inputs) == 1 else inputs or None
    if inputs is None:
        raise ValueError(
            f"Expected a built Sequential or functional model with known inputs (e.g. start it with "
            f"keras.Input). Received: model={model.name!r}"
        )
    outputs = {
        layer.name: layer.output
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer) and keras.backend.is_keras_tensor(layer.output)
    }
    probe = keras.Model(inputs, outputs, name=f"{model.name}_activations")
    activations = {
        layer.name: _layers.activation_name(layer) for layer in model.layers if layer.name in outputs
    }
    return probe, activations


def stats_from_outputs(outputs, activations, bins):
    """The statistics of `activation_stats` from the outputs of a `probe_model`."""
    stats = {}
    for name, activation in activations.items():  # the layers' order (a dict of outputs comes back sorted)
        values = keras.ops.convert_to_numpy(outputs[name]).astype("float64")
        flat = values.ravel()
        saturated = dead = dead_units = None
        histogram_range = None
        if activation in SATURATING:
            low, high = SATURATING[activation]
            near = (flat <= low + SATURATION_MARGIN) | (flat >= high - SATURATION_MARGIN)
            saturated = float(near.mean())
            histogram_range = (low, high)
        elif activation in DYING:
            zero = values == 0
            dead = float(zero.mean())
            dead_units = float(zero.reshape(-1, values.shape[-1]).all(axis=0).mean())
        if histogram_range is None and flat.size and np.isfinite(flat).all():
            histogram_range = (float(flat.min()), float(flat.max()))
        counts, edges = np.histogram(flat[np.isfinite(flat)], bins=bins, range=histogram_range)
        stats[name] = {
            "activation": activation,
            "mean": float(flat.mean()),
            "std": float(flat.std()),
            "saturated": saturated,
            "dead": dead,
            "dead_units": dead_units,
            "histogram": {"counts": counts, "edges": edges},
        }
    return stats
