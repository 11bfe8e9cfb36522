"""Gathering the evidence a diagnosis reads (`_diagnosis.read`), before training and during `fit`.

Every measurement here leaves the model and its optimizer as they were: activation statistics are one
inference pass; gradients and trial steps run on a compiled clone (`keras_tricks._clone`), with the
model's loss, through a `GradientClipping(mode=None)` that records per-variable norms and update
ratios inside the compiled step (the package's one way to measure gradients, on every backend).
"""

import copy

import keras
import numpy as np

from keras_tricks import _clone, _layers
from keras_tricks.diagnostics import _activation_stats
from keras_tricks.optimizers import _chain
from keras_tricks.optimizers.gradient_clipping import GradientClipping
from keras_tricks.recipes.checks import check_self_normalizing


def _first_array(x):
    arrays = [a for a in keras.tree.flatten(x) if np.issubdtype(np.asarray(a).dtype, np.number)]
    return np.asarray(arrays[0]) if arrays else None


def input_scale(x):
    """`{"mean", "std", "max_abs"}` of the (first) input array's values, or `None`."""
    values = _first_array(x)
    if values is None or not values.size:
        return None
    values = values.astype("float64")
    finite = values[np.isfinite(values)]
    if not finite.size:
        return None
    return {"mean": float(finite.mean()), "std": float(finite.std()), "max_abs": float(np.abs(finite).max())}


def activations(model, x, probe=None):
    """Per layer: its activation, saturated fraction, dead-unit fraction and output std, on `x`.

    `probe`: `_activation_stats.probe_model(model)`, built once by a caller that reads every epoch.
    """
    if probe is None:
        stats = _activation_stats.activation_stats(model, x, bins=1)
    else:
        network, names = probe
        stats = _activation_stats.stats_from_outputs(network(x, training=False), names, bins=1)
    return {
        name: {k: layer[k] for k in ("activation", "saturated", "dead_units", "std")}
        for name, layer in stats.items()
    }


def uses_selu(model):
    return any(_layers.activation_name(layer) == "selu" for layer in _layers.walk(model))


def self_normalizing_problems(model, x=None):
    """What breaks self-normalization in a SELU network (the inputs' standardization too); [] otherwise."""
    if not uses_selu(model):
        return []
    problems = check_self_normalizing(model)
    scale = input_scale(x) if x is not None else None
    if scale is not None:
        from keras_tricks.diagnostics._diagnosis import THRESHOLDS

        low, high = THRESHOLDS["standardized_std"]
        if abs(scale["mean"]) > THRESHOLDS["standardized_mean"] or not low <= scale["std"] <= high:
            problems.append(
                f"the inputs are not standardized (mean {scale['mean']:.3g}, std {scale['std']:.3g}); "
                "self-normalization needs mean 0 and std 1"
            )
    return problems


def _rms(model, statistics, kind):
    """`{variable key: value / √size}` (a root mean square) from a wrapper's `statistics()` of `model`."""
    keys = _layers.keys_by_path(model)
    sizes = {v.path: int(np.prod(v.shape)) for v in model.weights}
    out = {}
    for variable in model.weights:
        value = statistics.get(f"{kind}/{variable.path}")
        if value is not None:
            value = float(keras.ops.convert_to_numpy(value))
            out[keys[variable.path]] = (
                value / np.sqrt(max(sizes[variable.path], 1)) if kind == "grad_norm" else value
            )
    return out


def gradients(model, x, y, batch_size=64, seed=0):
    """Per-layer gradient RMS, the global norm and non-finite steps, from one batch (weights unchanged)."""
    observer = GradientClipping(keras.optimizers.SGD(0.0), mode=None, skip_nonfinite=False)
    clone, _ = _clone.compiled_clone(model, keras.saving.serialize_keras_object(observer))
    xb, yb = next(_clone.batches(x, y, batch_size, 1, seed))
    clone.train_on_batch(xb, yb)
    wrapper = _chain.unwrap(clone.optimizer, GradientClipping)
    stats = wrapper.statistics()
    return {
        "gradient_rms": _rms(clone, stats, "grad_norm"),
        "gradient_norm": float(keras.ops.convert_to_numpy(stats["grad_norm"])),
        "nonfinite_steps": float(keras.ops.convert_to_numpy(stats["grad_nonfinite_steps"])),
    }


def _observed(optimizer):
    """A copy of the optimizer chain with an observing `GradientClipping(update_ratios=True)` around it
    (inside a `LossScaleOptimizer`, which must stay outermost), serialized."""
    config = copy.deepcopy(keras.saving.serialize_keras_object(optimizer))
    target = config["config"] if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) else None
    inner = keras.saving.deserialize_keras_object(
        copy.deepcopy(target["inner_optimizer"] if target else config)
    )
    observer = keras.saving.serialize_keras_object(
        GradientClipping(inner, mode=None, skip_nonfinite=False, update_ratios=True, name="diagnosis")
    )
    if target is None:
        return observer
    target["inner_optimizer"] = observer
    return config


def trial(model, x, y, steps=20, batch_size=32, seed=0):
    """A few training steps of a clone with a copy of the optimizer: losses, update ratios, clipping."""
    clone, _ = _clone.compiled_clone(model, _observed(model.optimizer))
    losses = []
    for xb, yb in _clone.batches(x, y, batch_size, steps, seed):
        clone.reset_metrics()
        losses.append(float(clone.train_on_batch(xb, yb, return_dict=True)["loss"]))
    observer, *inner = [o for o in _chain.chain(clone.optimizer) if isinstance(o, GradientClipping)]
    stats = observer.statistics()
    evidence = {
        # running medians of 5 steps: one batch's loss is noisy
        "losses": [float(np.median(losses[max(0, i - 4) : i + 1])) for i in range(len(losses))],
        "update_ratio": _rms(clone, stats, "update_ratio"),
        "nonfinite_steps": float(keras.ops.convert_to_numpy(stats["grad_nonfinite_steps"])),
    }
    if inner and inner[0].mode is not None:  # the model's own clipping
        clipped = {
            k: float(keras.ops.convert_to_numpy(v)) for k, v in inner[0].statistics().items() if "/" not in k
        }
        evidence["clip_rate"] = clipped["grad_clip_rate"]
        evidence["clipped_over_norm"] = clipped["grad_norm_clipped"] / max(clipped["grad_norm"], 1e-30)
    return evidence
