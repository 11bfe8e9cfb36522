"""The learning-rate finder of the book's 1cycle section (`find_learning_rate`)."""

import copy
import dataclasses
import math
import warnings

import keras
import numpy as np

from keras_tricks import _checks, _clone
from keras_tricks.optimizers import CyclicMomentum, LearningRateMultipliers, _chain, learning_rate_multipliers

RULES = ("minimum", "steepest", "valley", "slide")
# The rule measured most robust on the book's MLP across data sizes, seeds and backends (see
# docs/lr-scheduling.md, "Which rule").
DEFAULT_RULE = "steepest"
# The sweep's first tenth (the bias-corrected average is still noisy there) and its last points (the
# loss blowing up) are left out of every rule, as fastai does.
_SKIP_END = 5
_SHORTEST_WINDOW = 20


@dataclasses.dataclass
class FindLearningRateResult:
    """What `find_learning_rate` measured.

    Args:
        learning_rates: np.ndarray. The rate of each step run.
        losses: np.ndarray. The loss of each step's batch (not Keras's running mean).
        smoothed_losses: np.ndarray. Bias-corrected exponential moving average of `losses`.
        suggestions: dict. The rate each rule of `RULES` suggests.
        suggestion: float. The rate of the rule asked for.
        rule: str. That rule's name.
        window: tuple. `(start, end)`: the steps the rules read (`learning_rates[start:end]`), without
            the warm-up and the blow-up.
        warnings: list of str. Why the suggestion may not be trusted (a sweep too short, no descent,
            rules far apart); also given as Python warnings.
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    suggestions: dict
    suggestion: float
    rule: str = DEFAULT_RULE
    window: tuple = (0, 0)
    warnings: list = dataclasses.field(default_factory=list)

    def plot(self, ax=None):
        """Draws the loss against the rate, each rule's suggestion marked; returns the matplotlib `Axes`.

        The y axis spans the informative range (the losses the rules read, not the blow-up at the end),
        and the chosen rule's mark is labelled with its rate.
        """
        from keras_tricks import plot

        return plot.lr_vs_loss(
            self.learning_rates,
            self.losses,
            self.smoothed_losses,
            suggestions=self.suggestions,
            chosen=self.rule,
            window=self.window,
            ax=ax,
        )


def _longest_descent(losses):
    """`(first, last)`: the valley of fastai's rule, the stretch that ends where the longest falling
    subsequence of `losses` ends and is as many steps long as that subsequence has points."""
    n = len(losses)
    length = [1] * n
    for i in range(n):
        for j in range(i):
            if losses[j] > losses[i]:
                length[i] = max(length[i], length[j] + 1)
    last = int(np.argmax(length))
    return last - length[last] + 1, last


def _slide(losses, width=15, tolerance=0.005):
    """The index where a window of `width` points, slid from the right end leftwards, first has the same
    slope at both ends (within `tolerance` per step): the left end of the flat bottom before the blow-up."""
    slope = np.gradient(losses)
    right = len(losses) - 1
    while right - width >= 0 and abs(slope[right] - slope[right - width]) > tolerance:
        right -= 1
    return max(right - width, 0)


def _suggestions(learning_rates, smoothed):
    """The rate each rule suggests, read from the window of the sweep given (warm-up and blow-up cut)."""
    best = int(np.argmin(smoothed))
    steepest = (
        int(np.argmin(np.gradient(smoothed[: best + 1], np.log(learning_rates[: best + 1]))))
        if best >= 2
        else 0
    )
    first, last = _longest_descent(list(smoothed))
    return {
        "minimum": float(learning_rates[best] / 10),
        "steepest": float(learning_rates[steepest]),
        "valley": float(learning_rates[(first + last) // 2]),
        "slide": float(learning_rates[_slide(smoothed)]),
    }


def _window(smoothed):
    n = len(smoothed)
    return n // 10, max(n // 10 + 1, n - _SKIP_END)


def _doubts(losses, window, suggestions):
    """Why the suggestion may not be trusted, as sentences for the user (none: a clean sweep)."""
    start, end = window
    doubts = []
    if end - start < _SHORTEST_WINDOW:
        doubts.append(
            f"the sweep is too short to trust: the rules read {end - start} steps (fewer than "
            f"{_SHORTEST_WINDOW}) between its warm-up and the blow-up; give more steps, or a range that "
            "blows up later (a lower max_lr)"
        )
    # The raw losses, as a running median of 5 (the smoothed curve lags: it may dip only a few %).
    read = losses[start:end]
    if len(read) >= 5:
        medians = np.array([np.median(read[i : i + 5]) for i in range(len(read) - 4)])
        if not medians.min() < 0.9 * medians[0]:
            doubts.append(
                "the loss never falls 10 % below its value after the warm-up: no descent to read a rate "
                "from (the range starts too high, or the loss is flat); lower min_lr or check the model"
            )
    spread = max(suggestions.values()) / min(suggestions.values())
    if spread > 100:
        doubts.append(
            f"the rules disagree by a factor {spread:.0f}: the curve is too noisy to trust; give more steps, "
            "a larger batch, or more smoothing"
        )
    return doubts


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
    rule=DEFAULT_RULE,
    seed=0,
):
    """Trains a copy of `model` with an exponentially growing learning rate and records the loss.

    The book's method before 1cycle: grow the rate from `min_lr` to `max_lr`,
    $\\eta_i = \\eta_{\\min} (\\eta_{\\max}/\\eta_{\\min})^{i/(n-1)}$ over `steps` steps, and read the
    loss against it; the loss falls, flattens, then shoots up. The sweep runs `steps` steps whatever the
    data size, cycling through the data (a new random order at each pass), so 2,000 images give the
    same sweep as 55,000. Each step's loss is the loss of its own batch; the curve is smoothed with a
    bias-corrected moving average, $\\bar L_i = \\mathrm{EMA}_\\beta(L)_i / (1-\\beta^{i+1})$, and the
    run stops once $\\bar L_i$ exceeds `stop_factor` times its best value (or is not finite).

    The rules read the smoothed curve without its first tenth (the average still settling) and its last
    5 points (the blow-up), as fastai does:

    - `"minimum"`: a tenth of the rate at the smoothed minimum (the book's and fastai's rule of thumb);
    - `"steepest"`: where the loss falls fastest per decade of rate, before its minimum (Lightning's
      rule; the default: the most robust measured on the book's MLP, see docs/lr-scheduling.md);
    - `"valley"`: fastai's valley, the middle of the stretch that ends where the longest falling
      subsequence of the loss ends and has as many steps as it has points (a cautious rate);
    - `"slide"`: fastai's slide, the left end of the flat bottom found by sliding a 15-point window from
      the blow-up leftwards until its ends have the same slope.

    A sweep too short (fewer than 20 steps for the rules), whose loss never falls 10 % (running median
    of 5 batches), or whose rules disagree by more than a factor 100 gives a warning saying what to
    change (also in `result.warnings`). A loss that is not finite from the first step raises
    `ValueError`.

    The finder trains a clone (`keras.models.clone_model`, so a Sequential or functional model) compiled
    from `model.get_compile_config()` with a fresh copy of its optimizer chain (every wrapper kept, the
    innermost optimizer's rate replaced by Keras's `ExponentialDecay` evaluated in the compiled step);
    `model`, its weights and its optimizer's variables are never touched.

    Args:
        model: keras.Model. A compiled Sequential or functional model.
        x: np.ndarray. Inputs (at least one row), finite: a NaN or Inf raises `ValueError` before the
            sweep (on tensorflow a ReLU layer can hide it from the loss).
        y: np.ndarray. Targets, finite. Defaults to `None`.
        batch_size: int. Rows per step (all of `x` when it has fewer). Defaults to `32`.
        min_lr: float. First rate. Defaults to `1e-7`.
        max_lr: float. Last rate, > `min_lr`. Defaults to `10.0`.
        steps: int. Steps of the sweep (fewer if the loss blows up first), at least 2. Defaults to `100`
            (fastai's).
        stop_factor: float > 1. Stop when the smoothed loss exceeds this multiple of its best. Defaults
            to `4.0` (Lightning's).
        smoothing: float in [0, 1). β of the moving average. Defaults to `0.98`.
        rule: str. One of `"minimum"`, `"steepest"`, `"valley"`, `"slide"`. Defaults to `"steepest"`.
        seed: int. Seed of the batch order. Defaults to `0`.

    Returns:
        A `FindLearningRateResult` with `learning_rates`, `losses`, `smoothed_losses`, `suggestions`,
        `suggestion`, `rule`, `window`, `warnings` and `plot()`.

    Example:

    >>> import keras, numpy as np
    >>> from keras_tricks import find_learning_rate
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x = np.random.default_rng(0).normal(size=(200, 4)).astype("float32")
    >>> result = find_learning_rate(model, x, x.sum(axis=1), min_lr=1e-4, max_lr=10)
    >>> len(result.losses) == len(result.learning_rates) <= 100
    True
    >>> sorted(result.suggestions) == sorted(["minimum", "steepest", "valley", "slide"])
    True
    >>> 1e-4 <= result.suggestion <= 10
    True

    References:
        - Smith, [Cyclical Learning Rates for Training Neural Networks](https://arxiv.org/abs/1506.01186),
          2017.
        - Géron, *Hands-On Machine Learning*, 3rd ed., chapter 11, "Learning Rate Scheduling".
        - fastai's `Learner.lr_find` and its suggestion functions (`valley`, `slide`, `minimum`, `steep`).
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected model to be a keras.Model. Received: model={model!r}")
    batch_size = _checks.positive_int("batch_size", batch_size)
    min_lr = _checks.positive_number("min_lr", min_lr)
    max_lr = _checks.positive_number("max_lr", max_lr)
    if min_lr >= max_lr:
        raise ValueError(f"Expected min_lr < max_lr. Received: min_lr={min_lr}, max_lr={max_lr}")
    steps = _checks.integer("steps", steps, low=2)
    stop_factor = _checks.number("stop_factor", stop_factor, low=1, low_open=True)
    smoothing = _checks.number("smoothing", smoothing, low=0, high=1, high_open=True)
    rule = _checks.choice("rule", rule, RULES)
    seed = _checks.integer("seed", seed)
    x = _checks.finite_array("x", x)
    y = None if y is None else _checks.finite_array("y", y)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"Expected x to hold at least one row. Received: x.shape={x.shape}")

    schedule = keras.optimizers.schedules.ExponentialDecay(
        min_lr, decay_steps=steps - 1, decay_rate=max_lr / min_lr
    )
    clone, _ = _clone.compiled_clone(
        model, lambda paths: _sweep_optimizer(model.optimizer, schedule, paths, model)
    )

    learning_rates = min_lr * (max_lr / min_lr) ** (np.arange(steps) / (steps - 1))
    losses, smoothed, average, best = [], [], 0.0, math.inf
    for xb, yb in _clone.batches(x, y, batch_size, steps, seed):
        clone.reset_metrics()  # the loss of this batch alone, not the running mean
        loss = float(clone.train_on_batch(xb, yb, return_dict=True)["loss"])
        if not math.isfinite(loss) and not losses:
            raise ValueError(
                f"The loss is {loss} from the first step of the sweep (at the rate min_lr={min_lr}): no rate "
                "can be suggested. Check the data (NaN or huge inputs?) and the model's output and loss."
            )
        losses.append(loss)
        average = smoothing * average + (1 - smoothing) * loss
        smoothed.append(average / (1 - smoothing ** len(losses)))
        best = min(best, smoothed[-1])
        if not math.isfinite(smoothed[-1]) or smoothed[-1] > stop_factor * best:
            break
    learning_rates = learning_rates[: len(losses)]
    smoothed = np.asarray(smoothed)
    window = _window(smoothed)
    start, end = window
    read = np.where(np.isfinite(smoothed[start:end]), smoothed[start:end], np.inf)
    suggestions = _suggestions(learning_rates[start:end], read)
    doubts = _doubts(np.asarray(losses), window, suggestions)
    for doubt in doubts:
        warnings.warn(f"find_learning_rate: {doubt}.", stacklevel=2)
    return FindLearningRateResult(
        learning_rates,
        np.asarray(losses),
        smoothed,
        suggestions,
        suggestions[rule],
        rule=rule,
        window=window,
        warnings=doubts,
    )
