"""The learning-rate finder of the book's 1cycle section (`find_learning_rate`)."""

import copy
import dataclasses
import math

import keras
import numpy as np

from keras_tricks import _checks
from keras_tricks.optimizers import CyclicMomentum, LearningRateMultipliers, _chain, learning_rate_multipliers

RULES = ("minimum", "steepest", "valley")


@dataclasses.dataclass
class FindLearningRateResult:
    """What `find_learning_rate` measured.

    Args:
        learning_rates: np.ndarray. The rate of each step run.
        losses: np.ndarray. The loss of each step's batch (not Keras's running mean).
        smoothed_losses: np.ndarray. Bias-corrected exponential moving average of `losses`.
        suggestions: dict. The rate each rule of `RULES` suggests.
        suggestion: float. The rate of the rule asked for.
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    suggestions: dict
    suggestion: float

    def plot(self, ax=None):
        """Draws the loss (raw and smoothed) against the learning rate; returns the matplotlib `Axes`."""
        from keras_tricks import plot

        return plot.lr_vs_loss(self.learning_rates, self.losses, self.smoothed_losses, self.suggestion, ax=ax)


def _batches(x, y, batch_size, steps, seed):
    order = np.random.default_rng(seed).permutation(len(x))
    for step in range(steps):
        index = order[step * batch_size : (step + 1) * batch_size]
        yield x[index], (None if y is None else y[index])


def _valley(losses):
    """fastai's `valley`: 2/3 of the way down the longest decreasing run of the loss curve."""
    n = len(losses)
    longest = [1] * n
    start = end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
        if longest[end] < longest[i]:
            end, start = i, i - longest[i]
    third = (end - start) / 3
    return max(0, start + int(third) + int(third / 2))


def _suggestions(learning_rates, smoothed):
    best = int(np.argmin(smoothed))
    # The first tenth of the run is skipped, as Lightning does: the bias-corrected average is still noisy
    # there and its slope per decade of rate is meaningless.
    skip = max(1, len(smoothed) // 10)
    steepest = best
    if best - skip >= 2:
        descent = np.gradient(smoothed[skip : best + 1], np.log(learning_rates[skip : best + 1]))
        steepest = skip + int(np.argmin(descent))
    return {
        "minimum": float(learning_rates[best] / 10),
        "steepest": float(learning_rates[steepest]),
        "valley": float(learning_rates[_valley(list(smoothed))]),
    }


def _sweep_optimizer(optimizer, schedule, paths, model):
    """The serialized optimizer chain of `optimizer` with `schedule` as the innermost learning rate.

    Every wrapper is kept (the sweep measures the training that will run: clipped, scaled...), except
    `CyclicMomentum`, whose momentum schedule follows the training's steps, not the sweep's: the inner
    optimizer keeps the momentum it starts training with. `LearningRateMultipliers` gets the clone's
    variable paths (`paths`: the model's path → the clone's).
    """
    members = _chain.chain(optimizer)
    config = copy.deepcopy(keras.saving.serialize_keras_object(members[-1]))
    config["config"]["learning_rate"] = keras.saving.serialize_keras_object(schedule)
    for wrapper in reversed(members[:-1]):  # from the innermost wrapper out
        if isinstance(wrapper, CyclicMomentum):
            argument = "momentum" if isinstance(members[-1], keras.optimizers.SGD) else "beta_1"
            config["config"][argument] = float(keras.ops.convert_to_numpy(wrapper.momentum_at(0)))
            continue
        outer = copy.deepcopy(keras.saving.serialize_keras_object(wrapper))
        outer["config"]["inner_optimizer"] = config
        if isinstance(wrapper, LearningRateMultipliers):
            # Keys may be full paths, which hold the model's name: name the clone's variables instead.
            outer["config"]["multipliers"] = {
                paths[v.path]: factor
                for v in model.weights
                for key, factor in wrapper.multipliers.items()
                if learning_rate_multipliers.matches(key, v.path)
            }
        config = outer
    return config


def find_learning_rate(
    model,
    x,
    y=None,
    *,
    batch_size=32,
    min_lr=1e-7,
    max_lr=10.0,
    steps=100,
    stop_factor=4.0,
    smoothing=0.98,
    rule="steepest",
    seed=0,
):
    """Trains a copy of `model` with an exponentially growing learning rate and records the loss.

    The book's method before 1cycle: grow the rate from `min_lr` to `max_lr` over at most one epoch,
    $\\eta_i = \\eta_{\\min} (\\eta_{\\max}/\\eta_{\\min})^{i/(n-1)}$, and plot the loss against it; the
    loss falls, flattens, then shoots up. Each step's loss is the loss of its own batch; the curve is
    smoothed with a bias-corrected moving average, $\\bar L_i = \\mathrm{EMA}_\\beta(L)_i / (1-\\beta^{i+1})$,
    and the run stops once $\\bar L_i$ exceeds `stop_factor` times its best value (or is not finite).

    Rules for the suggested rate: `"minimum"`, a tenth of the rate at the smoothed minimum (the book's
    and fastai's rule of thumb); `"steepest"`, where the smoothed loss falls fastest per decade of rate
    (Lightning's rule; the first tenth of the run skipped); `"valley"`, fastai's point 2/3 down the
    longest descending stretch.

    The finder trains a clone (`keras.models.clone_model`, so a Sequential or functional model) compiled
    from `model.get_compile_config()` with a fresh optimizer of the same kind and settings, whose
    learning rate is Keras's `ExponentialDecay` evaluated in the compiled step; `model`, its weights and
    its optimizer's variables are never touched. It costs the `steps` it ran (at most one epoch).

    Args:
        model: keras.Model. A compiled Sequential or functional model.
        x: np.ndarray. Inputs.
        y: np.ndarray. Targets. Defaults to `None`.
        batch_size: int. Defaults to `32`.
        min_lr: float. First rate. Defaults to `1e-7`.
        max_lr: float. Last rate, > `min_lr`. Defaults to `10.0`.
        steps: int. Steps to run at most; capped at one epoch. Defaults to `100`.
        stop_factor: float. Stop when the smoothed loss exceeds this multiple of its best. Defaults to `4.0`.
        smoothing: float in [0, 1). β of the moving average. Defaults to `0.98`.
        rule: str. One of `"minimum"`, `"steepest"`, `"valley"`. Defaults to `"steepest"`.
        seed: int. Seed of the batch order. Defaults to `0`.

    Returns:
        A `FindLearningRateResult` with `learning_rates`, `losses`, `smoothed_losses`, `suggestions`,
        `suggestion` and `plot()`.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x = np.random.default_rng(0).normal(size=(640, 4)).astype("float32")
    >>> result = find_learning_rate(model, x, x.sum(axis=1), batch_size=32, min_lr=1e-4, max_lr=10, steps=20)
    >>> len(result.losses) == len(result.learning_rates) <= 20
    True
    >>> 1e-4 <= result.suggestion <= 10
    True

    References:
        - Smith, [Cyclical Learning Rates for Training Neural Networks](https://arxiv.org/abs/1506.01186),
          2017.
        - Géron, *Hands-On Machine Learning*, 3rd ed., chapter 11, "Learning Rate Scheduling".
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected model to be a keras.Model. Received: model={model!r}")
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise ValueError(
            f"Expected a compiled model: call model.compile() first. Received: model={model.name}"
        )
    batch_size = _checks.positive_int("batch_size", batch_size)
    min_lr = _checks.positive_number("min_lr", min_lr)
    max_lr = _checks.positive_number("max_lr", max_lr)
    if min_lr >= max_lr:
        raise ValueError(f"Expected min_lr < max_lr. Received: min_lr={min_lr}, max_lr={max_lr}")
    steps = _checks.positive_int("steps", steps)
    stop_factor = _checks.positive_number("stop_factor", stop_factor)
    if not 0 <= smoothing < 1:
        raise ValueError(f"Expected smoothing in [0, 1). Received: smoothing={smoothing}")
    if rule not in RULES:
        raise ValueError(f"Expected rule in {RULES}. Received: rule={rule!r}")
    x = np.asarray(x)
    steps = max(2, min(steps, math.ceil(len(x) / batch_size)))

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    config = model.get_compile_config()
    schedule = keras.optimizers.schedules.ExponentialDecay(
        min_lr, decay_steps=steps - 1, decay_rate=max_lr / min_lr
    )
    paths = dict(zip((v.path for v in model.weights), (v.path for v in clone.weights), strict=True))
    optimizer = _sweep_optimizer(model.optimizer, schedule, paths, model)
    clone.compile_from_config({**config, "optimizer": optimizer, "metrics": None, "weighted_metrics": None})

    learning_rates = min_lr * (max_lr / min_lr) ** (np.arange(steps) / (steps - 1))
    losses, smoothed, average, best = [], [], 0.0, math.inf
    for xb, yb in _batches(x, None if y is None else np.asarray(y), batch_size, steps, seed):
        clone.reset_metrics()  # the loss of this batch alone, not the running mean
        loss = float(clone.train_on_batch(xb, yb, return_dict=True)["loss"])
        losses.append(loss)
        average = smoothing * average + (1 - smoothing) * loss
        smoothed.append(average / (1 - smoothing ** len(losses)))
        best = min(best, smoothed[-1])
        if not math.isfinite(smoothed[-1]) or smoothed[-1] > stop_factor * best:
            break
    learning_rates = learning_rates[: len(losses)]
    smoothed = np.asarray(smoothed)
    finite = np.where(np.isfinite(smoothed), smoothed, np.inf)
    suggestions = _suggestions(learning_rates, finite)
    return FindLearningRateResult(
        learning_rates, np.asarray(losses), smoothed, suggestions, suggestions[rule]
    )
