"""`mc_predict`: Monte Carlo dropout predictions from a model built with plain `Dropout`."""

import collections
import itertools
import random
import threading
import weakref

import keras
import numpy as np

from keras_tricks import _checks, _layers
from keras_tricks.layers.mc_alpha_dropout import MCAlphaDropout
from keras_tricks.layers.mc_dropout import MCDropout

# Rows (copies of input rows) pushed through the model per compiled call: large enough that the call
# overhead vanishes, small enough that memory stays O(batch), whatever `samples` and `len(x)` are. Set
# per backend from the book's MC-dropout MLP on 2 cores (benchmarks/mc_rows_per_call.py, CPU time
# against 100 `predict` passes): on jax 0.56-0.61 at 512 to 2,048 rows per call and 1.26 at 4,096 (the
# masks drawn alone: 0.37-0.39 at 512-1,024, 1.34 at 4,096); on tensorflow and torch 4,096 is the
# fastest (1,024 costs 1.23x as much there on tensorflow, 1.43x on torch).
_ROWS_PER_CALL = 1024 if keras.backend.backend() == "jax" else 4096

MCPrediction = collections.namedtuple("MCPrediction", ["mean", "std", "entropy"])
MCPrediction.__doc__ = """What `mc_predict` returns.

Attributes:
    mean: np.ndarray. Mean of the model's outputs over the samples, shape `(len(x), *output_shape)`.
    std: np.ndarray. Their standard deviation over the samples (population, `ddof=0`), same shape.
    entropy: np.ndarray. Predictive entropy of `mean` in nats, $-\\sum_c \\bar p_c \\log \\bar p_c$ over
        the last axis, shape `(len(x), *output_shape[:-1])`.
"""

_MC_VERSION = {
    keras.layers.Dropout: MCDropout,
    MCDropout: MCDropout,
    keras.layers.AlphaDropout: MCAlphaDropout,
    MCAlphaDropout: MCAlphaDropout,
}


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected model to be a keras.Model. Received: model={model!r}")
    # Functional and Sequential models expose their graph; a subclassed model cannot be cloned.
    if not isinstance(model, keras.Sequential) and not hasattr(model, "operations"):
        raise TypeError(
            "Expected model to be a Sequential or functional keras.Model (a subclassed model cannot be "
            f"cloned with its dropout layers switched). Received: model={model!r}"
        )
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            f"Expected model to be built with a known input shape (start it with keras.Input). "
            f"Received: model={model.name!r}"
        )
    if len(inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            "Expected model to have one input and one output. "
            f"Received: model={model.name!r} with {len(inputs)} inputs and {len(model.outputs)} outputs"
        )


def _mc_model(model, seed, switched=None, numbering=None):
    """`model` with every Dropout/AlphaDropout replaced by its MC version; all other layers are reused.

    The other layer objects are the original ones, so the weights are shared, not copied, and
    BatchNormalization runs on its moving statistics as in any inference call. The dropout layers are
    numbered 0, 1, 2, ... in the order they are cloned, nested models included (one numbering for the
    whole model, so no two layers share a seed), and the i-th is seeded `seed + i`, or, if `seed` is
    None, by the original layer's own seed (a random one if it has none). Each is appended to `switched`
    (a list, if given) as `(mc_layer, i, the original layer's seed)`.
    """
    numbering = itertools.count() if numbering is None else numbering

    def switch(layer):
        if isinstance(layer, keras.Model):
            return _mc_model(layer, seed, switched, numbering)
        mc_class = _MC_VERSION.get(type(layer))
        if mc_class is None:
            return layer
        config = layer.get_config()
        own_seed = config["seed"]
        index = next(numbering)
        # A concrete seed even for an unseeded layer (drawn as Keras draws a default one, from Python's
        # `random`, which keras.utils.set_random_seed seeds): on torch, Keras ignores the state of a
        # generator made without a seed, and `_Sampler.restart` sets that state.
        if seed is not None:
            config["seed"] = seed + index
        elif own_seed is None:
            config["seed"] = _default_seed()
        mc_layer = mc_class.from_config(config)
        if switched is not None:
            switched.append((mc_layer, index, own_seed))
        return mc_layer

    return keras.models.clone_model(model, clone_function=switch)


def _default_seed():
    """A seed drawn as Keras draws one for a generator made without a seed, from Python's `random`."""
    return random.randint(1, 10**9)


def _structure(model):
    """What a model's sampler depends on: its layers, and the configuration of its dropout layers."""
    return tuple(
        (id(layer), type(layer), repr(layer.get_config()) if type(layer) in _MC_VERSION else None)
        for layer in _layers.walk(model)
    )


class _Sampler:
    """`sampler(x_batch, k)` -> `k` stochastic forward passes of `x_batch`, shape `(k, len(x_batch), ...)`.

    Each `k` gets one compiled model that tiles the batch `k` times inside the graph, runs the MC model
    on the tiled batch (independent masks per copy) and splits the copies back on a leading axis. A call
    of `mc_predict` holds `lock` from `restart` to its last pass: another thread sampling the same model
    waits, rather than moving the generators under it.
    """

    def __init__(self, model):
        self.structure = _structure(model)
        self.switched = []
        # Seeded 0, 1, 2, ... for now: `restart` sets every generator before a call. Drawing no seed from
        # Python's `random` here keeps a first call as repeatable under keras.utils.set_random_seed as a
        # later one.
        self.mc_model = _mc_model(model, 0, self.switched)
        self.input_shape, self.input_dtype = model.inputs[0].shape[1:], model.inputs[0].dtype
        self.compiled = {}
        self.lock = threading.Lock()

    def restart(self, seed):
        """Sets each MC layer's generator as a new clone made by `_mc_model(model, seed)` would start it:
        from `seed + i`, or without a seed from the original layer's seed, or else a new random one (so
        `keras.utils.set_random_seed` makes the call repeatable, and calls differ)."""
        for layer, index, own_seed in self.switched:
            generator = getattr(layer, "seed_generator", None)  # Keras makes none for a rate of 0
            if generator is None:
                continue
            if seed is not None:
                start = seed + index
            else:
                start = _default_seed() if own_seed is None else own_seed
            generator.state.assign(keras.random.SeedGenerator(start).state.value)

    def __call__(self, x_batch, k):
        if k not in self.compiled:
            inputs = keras.Input(shape=self.input_shape, dtype=self.input_dtype)
            tiled = keras.ops.tile(inputs, [k] + [1] * (len(inputs.shape) - 1))
            outputs = self.mc_model(tiled)
            outputs = keras.ops.reshape(outputs, (k, -1, *outputs.shape[1:]))
            self.compiled[k] = keras.Model(inputs, outputs)
        return self.compiled[k].predict_on_batch(x_batch)


# One sampler per model, kept while the model lives and its layers stay the same, as `model.predict`
# keeps its compiled function: on jax a first call of the benchmark's (10,000 images, 100 samples)
# costs 12.9 s of CPU against 9.6-10.4 s for a later one (benchmarks/results/mc_predict.md).
_SAMPLERS = weakref.WeakKeyDictionary()


def _sampler(model):
    """`model`'s sampler (made anew if the model changed since it was made)."""
    sampler = _SAMPLERS.get(model)
    if sampler is None or sampler.structure != _structure(model):
        sampler = _SAMPLERS[model] = _Sampler(model)
    return sampler


def _check_x(model, x):
    expected = tuple(model.inputs[0].shape[1:])
    shape = getattr(x, "shape", None)
    if shape is None:
        raise ValueError(f"Expected x to be an array. Received: x of type {type(x).__name__}")
    received = tuple(shape[1:])
    compatible = len(received) == len(expected) and all(
        e is None or e == r for e, r in zip(expected, received, strict=True)
    )
    if len(shape) == 0 or shape[0] == 0 or not compatible:
        raise ValueError(
            f"Expected x of shape (n, {', '.join(str(d) for d in expected)}) matching the model's input, "
            f"with n >= 1. Received: x.shape={tuple(shape)}"
        )


def _entropy(p):
    # 0 * log 0 = 0: probabilities that are exactly 0 contribute nothing.
    return -np.sum(p * np.log(np.where(p > 0, p, 1.0)), axis=-1)


def mc_predict(model, x, samples=100, batch_size=None, seed=None):
    """Monte Carlo dropout: averages `samples` predictions with dropout on, BatchNormalization off.

    `model(x, training=True)` would turn dropout on but also switch BatchNormalization to the batch's
    statistics (and any other training-only behaviour). `mc_predict` instead runs a clone of `model`
    whose `Dropout` and `AlphaDropout` layers are replaced by `MCDropout` / `MCAlphaDropout` with the
    same configuration, while every other layer is the original object: the weights are shared, nothing
    is rebuilt or copied, and BatchNormalization uses its moving statistics. Works on Sequential and
    functional models (nested ones too) built with plain dropout layers; the model is not modified.

    For each batch of `x`, the `samples` passes are run in a few compiled calls (the batch is tiled in
    the graph, at most about 4096 rows per call, 1024 on jax), and their mean and spread are accumulated
    with the parallel form of Welford's algorithm (Chan et al.): memory is O(batch), not
    O(samples × len(x)).
    The clone and its compiled passes are kept with the model, as `model.predict` keeps its compiled
    function: later calls with the same `samples` and `batch_size`, and any seed, neither clone nor
    compile again, until the model's layers or its dropout layers' configuration change.
    With $p_s$ the output of pass $s$:

    $$\\bar p = \\frac{1}{S} \\sum_s p_s, \\quad
      \\sigma = \\sqrt{\\frac{1}{S} \\sum_s (p_s - \\bar p)^2}, \\quad
      H = -\\sum_c \\bar p_c \\log \\bar p_c .$$

    The entropy assumes the output's last axis holds probabilities (a softmax or sigmoid output).

    Args:
        model: keras.Model. A built Sequential or functional model with one input and one output.
        x: np.ndarray. Inputs, shape `(n, *model_input_shape)`.
        samples: int. Stochastic forward passes per input. Defaults to `100` (the book's).
        batch_size: int. Inputs per batch. Defaults to `None` (32, as `model.predict`).
        seed: int. Seeds the dropout masks: the same seed gives the same result. In `[0, 2**31 - 2**16)`.
            Defaults to `None` (the layers' own seeds, random unless set: then
            `keras.utils.set_random_seed` makes the result repeatable).

    Returns:
        An `MCPrediction` named tuple `(mean, std, entropy)` of NumPy arrays.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([
    ...     keras.Input(shape=(4,)),
    ...     keras.layers.Dense(8, activation="relu"),
    ...     keras.layers.Dropout(0.3),
    ...     keras.layers.Dense(3, activation="softmax"),
    ... ])
    >>> x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    >>> result = mc_predict(model, x, samples=20, seed=42)
    >>> result.mean.shape, result.std.shape, result.entropy.shape
    ((5, 3), (5, 3), (5,))
    >>> bool(np.allclose(result.mean.sum(axis=1), 1.0, atol=1e-5)), bool((result.std > 0).all())
    (True, True)

    References:
        - [Gal & Ghahramani, 2016. Dropout as a Bayesian Approximation: Representing Model Uncertainty in
          Deep Learning](https://arxiv.org/abs/1506.02142)
        - [Chan, Golub & LeVeque, 1979. Updating formulae and a pairwise algorithm for computing sample
          variances](https://doi.org/10.1007/978-3-642-51461-6_3)
    """
    _check_model(model)
    samples = _checks.positive_int("samples", samples)
    batch_size = _checks.positive_int("batch_size", batch_size, allow_none=True)
    # seed + i must fit the int32 state of torch's generators (i numbers the dropout layers).
    seed = _checks.integer("seed", seed, low=0, high=2**31 - 1 - 2**16, allow_none=True)
    _check_x(model, x)
    if not any(type(layer) in _MC_VERSION for layer in _layers.walk(model)):
        raise ValueError(
            "mc_predict samples the model with its dropout layers on, but this model has none (no "
            "Dropout, AlphaDropout, MCDropout or MCAlphaDropout): every sample would be the same and the "
            f"std 0. Add dropout to the model, or use model.predict. Received: model={model.name!r} with "
            f"layers {[type(layer).__name__ for layer in _layers.walk(model)]}"
        )
    batch_size = batch_size or 32
    draw = _sampler(model)
    per_call = max(1, min(samples, _ROWS_PER_CALL // batch_size))
    with draw.lock:
        draw.restart(seed)
        means, m2s = _passes(draw, x, samples, batch_size, per_call)
    mean = np.concatenate(means)
    std = np.sqrt(np.concatenate(m2s) / samples)
    dtype = keras.backend.standardize_dtype(model.outputs[0].dtype)
    return MCPrediction(mean.astype(dtype), std.astype(dtype), _entropy(mean).astype(dtype))


def _passes(draw, x, samples, batch_size, per_call):
    """Each batch's mean and sum of squared deviations over `samples` passes, in calls of `per_call`."""
    means, m2s = [], []
    for start in range(0, len(x), batch_size):
        x_batch = np.asarray(x[start : start + batch_size])
        count, mean, m2 = 0, None, None
        while count < samples:
            k = min(per_call, samples - count)
            outputs = draw(x_batch, k).astype("float64")
            chunk_mean = outputs.mean(axis=0)
            chunk_m2 = ((outputs - chunk_mean) ** 2).sum(axis=0)
            if mean is None:
                mean, m2 = chunk_mean, chunk_m2
            else:  # Chan et al.'s pairwise update of the running mean and sum of squared deviations
                delta = chunk_mean - mean
                total = count + k
                mean = mean + delta * (k / total)
                m2 = m2 + chunk_m2 + delta**2 * (count * k / total)
            count += k
        means.append(mean)
        m2s.append(m2)
    return means, m2s
