"""Training diagnosis: what is wrong with a training run, and the chapter's remedy.

Chapter 11 is a catalogue of the ways deep training fails and of the trick that fixes each. keras-tricks
measures the evidence (inputs, activation statistics, per-layer gradient norms, clipping, update sizes,
losses); this module reads it. `read(evidence, epoch)` turns one set of measurements into `Finding`s by
the rules of `RULES`, with the thresholds of `THRESHOLDS` (measured on the panel of
`examples/diagnosis.py`, see docs/diagnosis.md); `diagnose` gathers the evidence before training, on a
sample of the data, and `keras_tricks.callbacks.Diagnose` during `fit`.
"""

import collections.abc
import dataclasses
import math

import numpy as np

ERROR, WARNING = "error", "warning"

# Each threshold, and the measurement it comes from, is in docs/diagnosis.md ("Thresholds").
THRESHOLDS = {
    "input_scale": 5.0,  # |mean| or std of the input features above this: not scaled
    "saturated": 0.5,  # fraction of a sigmoid/tanh layer's outputs within 0.01 of an asymptote
    "saturated_error": 0.9,
    "dead_units": 0.5,  # fraction of a ReLU layer's units that are 0 for every example of a batch
    "dead_units_error": 0.95,
    "vanishing": 1e-4,  # gradient RMS of the first kernel / of the last kernel
    "vanishing_error": 1e-6,
    "exploding": 1e3,  # the same ratio, the other way
    "exploding_norm": 1e4,  # global gradient norm (mean over the steps)
    "activation_growth": 1e3,  # largest layer output std / the first layer's, in one forward pass
    "diverging": 1.5,  # the loss rose by this factor over its best (or is not finite)
    "update_ratio_low": 1e-6,  # median per-step ‖Δw‖ / ‖w‖ of the kernels
    "over_clipping_rate": 0.9,  # fraction of steps clipped ...
    "over_clipping_shrink": 0.1,  # ... each to at most this fraction of its norm
    "overfitting": 1.1,  # validation loss this factor above its best, the training loss still falling
    "standardized_mean": 0.5,  # a self-normalizing net's inputs: |mean| above this, or
    "standardized_std": (0.5, 2.0),  # a std outside this range
}

# code: (what it means, the chapter's remedy, the docs page)
CODES = {
    "unscaled_inputs": (
        "inputs are not scaled",
        "scale the inputs (divide pixels by 255, or keras.layers.Normalization / StandardScaler)",
        "data.md",
    ),
    "saturated_activations": (
        "activations sit on the flat parts of their sigmoid/tanh",
        "use ReLU-family activations with He initialization, or Glorot initialization for sigmoid/tanh "
        "(keras_tricks.initializers.for_activation), or add BatchNormalization",
        "initialization.md",
    ),
    "vanishing_gradients": (
        "gradients shrink towards the input",
        "change the activation (ReLU, ELU, SELU) and initialize for it (He, LeCun), or add "
        "BatchNormalization or skip connections",
        "initialization.md",
    ),
    "exploding_gradients": (
        "gradients grow towards the input or are huge",
        "clip the gradients (keras_tricks.optimizers.GradientClipping), lower the learning rate, or "
        "initialize for the activation",
        "gradient-clipping.md",
    ),
    "dead_units": (
        "ReLU units output 0 for every example",
        "lower the learning rate, initialize the biases at 0 with He initialization, or use a leaky "
        "variant (LeakyReLU, ELU, keras_tricks.layers.RReLU)",
        "activations.md",
    ),
    "diverging_loss": (
        "the loss grows or is not finite",
        "lower the learning rate (keras_tricks.find_learning_rate, then a tenth of the blow-up point), "
        "or clip the gradients",
        "lr-scheduling.md",
    ),
    "nonfinite_gradients": (
        "gradients hold NaN or Inf",
        "check the data for NaN/Inf, lower the learning rate; GradientClipping(skip_nonfinite=True) skips "
        "such steps",
        "gradient-clipping.md",
    ),
    "learning_rate_too_low": (
        "the weights hardly move",
        "raise the learning rate (keras_tricks.find_learning_rate), or use 1cycle "
        "(keras_tricks.schedules.OneCycle)",
        "lr-scheduling.md",
    ),
    "over_clipping": (
        "clipping shrinks nearly every gradient by far",
        "raise the clipping threshold (see the logged grad_norm for its scale) or clip by global norm",
        "gradient-clipping.md",
    ),
    "overfitting": (
        "the validation loss rises while the training loss falls",
        "stop early (keras_tricks.callbacks.EarlyStopping with restore_best_weights), add regularization "
        "(dropout, weight decay, max-norm) or data",
        "early-stopping.md",
    ),
    "not_self_normalizing": (
        "a SELU network breaks the conditions for self-normalization",
        "standardize the inputs, use LeCun normal initialization, no BatchNormalization, AlphaDropout "
        "only, a plain stack of Dense layers (keras_tricks.recipes.self_normalizing_dnn)",
        "recipes.md",
    ),
}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing wrong with a training run, the evidence for it and the remedy.

    Attributes:
        code: str. A stable name (see `CODES`), e.g. `"vanishing_gradients"`.
        severity: str. `"error"` (training will fail) or `"warning"` (it will train badly).
        epoch: int or None. The epoch (0-based) it was found at; `None` before training.
        layers: tuple of str. The layers (or variable keys) involved.
        evidence: dict. The numbers that triggered it, and the threshold.
        message: str. What is wrong, in one sentence.
        remedy: str. The chapter's fix, naming the API and the docs page.
    """

    code: str
    severity: str
    epoch: object
    layers: tuple
    evidence: dict
    message: str
    remedy: str

    def __str__(self):
        where = "before training" if self.epoch is None else f"epoch {self.epoch + 1}"
        layers = f" [{', '.join(self.layers)}]" if self.layers else ""
        return (
            f"{self.severity:7s} {self.code} ({where}){layers}: {self.message}\n{'':10s}remedy: {self.remedy}"
        )


class Diagnosis(collections.abc.Sequence):
    """The findings of a diagnosis, in the order found; prints as a short report.

    A sequence of `Finding`s (`len`, indexing, iteration), with `codes` (each code found, once),
    `errors` (the findings of severity `"error"`), `first(code)`, `report()` (also `str(diagnosis)`:
    one line per code, errors first, with the remedy) and `evidence` (the measurements read, for
    `diagnose`).

    Example:

    >>> from keras_tricks.diagnostics import Diagnosis
    >>> diagnosis = Diagnosis()
    >>> len(diagnosis), diagnosis.codes, str(diagnosis)
    (0, [], 'Diagnosis: nothing found.')
    """

    def __init__(self, findings=(), evidence=None):
        self._findings = list(findings)
        self.evidence = evidence if evidence is not None else {}

    def __getitem__(self, index):
        return self._findings[index]

    def __len__(self):
        return len(self._findings)

    @property
    def codes(self):
        """The codes found, sorted, each once."""
        return sorted({finding.code for finding in self._findings})

    @property
    def errors(self):
        """The findings of severity `"error"`."""
        return [finding for finding in self._findings if finding.severity == ERROR]

    def first(self, code):
        """The first finding of `code`, or `None`."""
        return next((finding for finding in self._findings if finding.code == code), None)

    def report(self):
        """The findings as text: one per code (its first occurrence), errors first."""
        if not self._findings:
            return "Diagnosis: nothing found."
        firsts = [self.first(code) for code in dict.fromkeys(f.code for f in self._findings)]
        firsts.sort(key=lambda f: f.severity != ERROR)
        errors = sum(f.severity == ERROR for f in firsts)
        lines = [f"Diagnosis: {len(firsts)} problem(s), {errors} error(s)."]
        lines += [str(finding) for finding in firsts]
        return "\n".join(lines)

    __str__ = report

    def __repr__(self):
        return f"Diagnosis({self.codes})"


def _finding(code, severity, epoch, layers, evidence, message):
    meaning, remedy, page = CODES[code]
    return Finding(code, severity, epoch, tuple(layers), evidence, f"{message}", f"{remedy} (docs: {page})")


def _inputs(evidence, epoch):
    inputs = evidence.get("inputs")
    if not inputs:
        return None
    worst = max(abs(inputs["mean"]), inputs["std"])
    if worst > THRESHOLDS["input_scale"]:
        return _finding(
            "unscaled_inputs",
            WARNING,
            epoch,
            (),
            {**inputs, "threshold": THRESHOLDS["input_scale"]},
            f"the inputs have mean {inputs['mean']:.3g} and std {inputs['std']:.3g} (scaled inputs are about "
            "0 and 1)",
        )
    return None


def _saturated(evidence, epoch):
    layers = {
        name: stats["saturated"]
        for name, stats in evidence.get("activations", {}).items()
        if stats.get("saturated") is not None and stats["saturated"] >= THRESHOLDS["saturated"]
    }
    if not layers:
        return None
    worst = max(layers.values())
    severity = ERROR if worst >= THRESHOLDS["saturated_error"] else WARNING
    return _finding(
        "saturated_activations",
        severity,
        epoch,
        layers,
        {"saturated": layers, "threshold": THRESHOLDS["saturated"]},
        f"{len(layers)} layer(s) have up to {worst:.0%} of their outputs saturated, where their gradient "
        "vanishes",
    )


def _dead(evidence, epoch):
    layers = {
        name: stats["dead_units"]
        for name, stats in evidence.get("activations", {}).items()
        if stats.get("dead_units") is not None and stats["dead_units"] >= THRESHOLDS["dead_units"]
    }
    if not layers:
        return None
    worst = max(layers.values())
    severity = ERROR if worst >= THRESHOLDS["dead_units_error"] else WARNING
    return _finding(
        "dead_units",
        severity,
        epoch,
        layers,
        {"dead_units": layers, "threshold": THRESHOLDS["dead_units"]},
        f"up to {worst:.0%} of a ReLU layer's units output 0 for every example: they no longer learn",
    )


def _gradient_ratio(evidence):
    rms = evidence.get("gradient_rms") or {}
    kernels = [(key, value) for key, value in rms.items() if key.endswith("kernel") and math.isfinite(value)]
    if len(kernels) < 2 or not kernels[-1][1] > 0:
        return None
    (first, first_rms), (last, last_rms) = kernels[0], kernels[-1]
    return first, last, first_rms / last_rms


def _activation_growth(evidence):
    """`(first layer, layer, ratio)`: the largest output std of a later layer over the first layer's."""
    stds = [
        (name, stats.get("std"))
        for name, stats in (evidence.get("activations") or {}).items()
        if stats.get("std") is not None and math.isfinite(stats["std"])
    ]
    if len(stds) < 2 or not stds[0][1] > 0:
        return None
    (first, first_std), (worst, worst_std) = stds[0], max(stds[1:], key=lambda item: item[1])
    return first, worst, worst_std / first_std


def _vanishing(evidence, epoch):
    ratio = _gradient_ratio(evidence)
    if ratio is None or not ratio[2] < THRESHOLDS["vanishing"]:
        return None
    first, last, value = ratio
    severity = ERROR if value < THRESHOLDS["vanishing_error"] else WARNING
    return _finding(
        "vanishing_gradients",
        severity,
        epoch,
        (first, last),
        {"first_to_last_rms": value, "threshold": THRESHOLDS["vanishing"]},
        f"the first layer's gradients are {value:.2g} times the last layer's (RMS): the lower layers hardly "
        "learn",
    )


def _exploding(evidence, epoch):
    """Gradients growing towards the input, a huge gradient norm, or activations growing layer by layer
    (in a ReLU-like net the backward pass multiplies by the same weights: an exactly saturated output
    can hide the gradients themselves, the forward pass still shows the growth)."""
    ratio, growth = _gradient_ratio(evidence), _activation_growth(evidence)
    norm = evidence.get("gradient_norm")
    big_ratio = ratio is not None and ratio[2] > THRESHOLDS["exploding"]
    big_norm = norm is not None and math.isfinite(norm) and norm > THRESHOLDS["exploding_norm"]
    big_growth = growth is not None and growth[2] > THRESHOLDS["activation_growth"]
    if not (big_ratio or big_norm or big_growth):
        return None
    layers = (ratio[0], ratio[1]) if big_ratio else (growth[0], growth[1]) if big_growth else ()
    evidence_out = {"gradient_norm": norm, "threshold_norm": THRESHOLDS["exploding_norm"]}
    if ratio is not None:
        evidence_out.update(first_to_last_rms=ratio[2], threshold_ratio=THRESHOLDS["exploding"])
    if growth is not None:
        evidence_out.update(activation_growth=growth[2], threshold_growth=THRESHOLDS["activation_growth"])
    if big_ratio:
        what = f"the first layer's gradients are {ratio[2]:.2g} times the last layer's"
    elif big_norm:
        what = f"the gradient norm is {norm:.3g}"
    else:
        what = f"the outputs of layer {growth[1]!r} are {growth[2]:.2g} times as spread as {growth[0]!r}'s"
    return _finding(
        "exploding_gradients", WARNING, epoch, layers, evidence_out, f"{what}: the updates blow up"
    )


def _nonfinite(evidence, epoch):
    steps = evidence.get("nonfinite_steps") or 0
    norm = evidence.get("gradient_norm")
    if not (steps > 0 or (norm is not None and not math.isfinite(norm))):
        return None
    return _finding(
        "nonfinite_gradients",
        ERROR,
        epoch,
        (),
        {"nonfinite_steps": steps, "gradient_norm": norm},
        f"{int(steps) or 'some'} step(s) had NaN or Inf in their gradients",
    )


def _diverging(evidence, epoch):
    losses = [float(v) for v in evidence.get("losses") or []]
    if not losses:
        return None
    finite = [v for v in losses if math.isfinite(v)]
    last = losses[-1]
    if math.isfinite(last) and not (
        finite and last > THRESHOLDS["diverging"] * min(finite) and last > finite[0]
    ):
        return None
    best = min(finite) if finite else float("nan")
    return _finding(
        "diverging_loss",
        ERROR,
        epoch,
        (),
        {"loss": last, "best_loss": best, "first_loss": losses[0], "threshold": THRESHOLDS["diverging"]},
        f"the loss went from {losses[0]:.3g} (best {best:.3g}) to {last:.3g}",
    )


def _too_low(evidence, epoch):
    ratios = [v for key, v in (evidence.get("update_ratio") or {}).items() if key.endswith("kernel")]
    if not ratios:
        return None
    median = float(np.median(ratios))
    if not median < THRESHOLDS["update_ratio_low"]:
        return None
    return _finding(
        "learning_rate_too_low",
        WARNING,
        epoch,
        (),
        {"update_ratio": median, "threshold": THRESHOLDS["update_ratio_low"]},
        f"each step moves the weights by {median:.2g} of their norm (a step of about 1e-3 of it trains well)",
    )


def _over_clipping(evidence, epoch):
    rate, shrink = evidence.get("clip_rate"), evidence.get("clipped_over_norm")
    if rate is None or shrink is None:
        return None
    if not (rate >= THRESHOLDS["over_clipping_rate"] and shrink <= THRESHOLDS["over_clipping_shrink"]):
        return None
    return _finding(
        "over_clipping",
        WARNING,
        epoch,
        (),
        {"clip_rate": rate, "clipped_over_norm": shrink},
        f"{rate:.0%} of the steps are clipped, to {shrink:.2g} of the gradient's norm on average",
    )


def _overfitting(evidence, epoch):
    val, train = evidence.get("val_losses") or [], evidence.get("losses") or []
    if len(val) < 2 or len(train) < 2 or not all(math.isfinite(v) for v in val):
        return None
    best = min(val)
    rising = val[-1] > THRESHOLDS["overfitting"] * best and int(np.argmin(val)) < len(val) - 1
    if not (rising and train[-1] < train[int(np.argmin(val))]):
        return None
    return _finding(
        "overfitting",
        WARNING,
        epoch,
        (),
        {
            "val_loss": val[-1],
            "best_val_loss": best,
            "loss": train[-1],
            "threshold": THRESHOLDS["overfitting"],
        },
        f"the validation loss rose from its best {best:.3g} to {val[-1]:.3g} while the training loss fell to "
        f"{train[-1]:.3g}",
    )


def _self_normalizing(evidence, epoch):
    problems = evidence.get("self_normalizing")
    if not problems:
        return None
    return _finding(
        "not_self_normalizing",
        WARNING,
        epoch,
        (),
        {"problems": list(problems)},
        f"it uses SELU but {len(problems)} condition(s) break self-normalization: {problems[0]}",
    )


# The rules, in the order of the report. Each reads the evidence it needs and ignores what is absent.
RULES = (
    _nonfinite,
    _diverging,
    _inputs,
    _self_normalizing,
    _saturated,
    _dead,
    _vanishing,
    _exploding,
    _too_low,
    _over_clipping,
    _overfitting,
)


def read(evidence, epoch=None):
    """The findings the rules draw from one set of measurements (`epoch`: None before training)."""
    return [finding for rule in RULES if (finding := rule(evidence, epoch)) is not None]


def diagnose(model, x, y=None, *, samples=512, batch_size=32, steps=20, seed=0):
    """A pre-flight check of a compiled model on a sample of its training data, before training.

    Reads what can be seen before training, on `samples` rows of `x` drawn at random:

    - the inputs' scale (`unscaled_inputs`);
    - one forward pass in inference mode: saturated sigmoid/tanh layers (`saturated_activations`) and
      ReLU layers with dead units (`dead_units`), as `keras_tricks.diagnostics.activation_stats` measures;
    - the same pass: how much the layers' outputs spread out from the first layer to the last
      (`exploding_gradients`: the backward pass grows the same way, even when an exactly saturated
      output leaves no gradient to measure);
    - one backward pass: the ratio of the first kernel's gradient RMS to the last one's
      (`vanishing_gradients`, `exploding_gradients`) and non-finite gradients (`nonfinite_gradients`);
    - `steps` training steps of a clone with a copy of the model's optimizer chain: the loss
      (`diverging_loss`), how far each step moves the weights (`learning_rate_too_low`) and what the
      model's own `GradientClipping` does (`over_clipping`);
    - for a network that uses SELU, the conditions of self-normalization, the inputs' standardization
      included (`not_self_normalizing`).

    The model, its weights and its optimizer (variables and iteration count) are left exactly as they
    were: the passes run on clones. `keras_tricks.callbacks.Diagnose` reads the same evidence during
    `fit`. The thresholds are in `THRESHOLDS`, measured on the panel of `examples/diagnosis.py` (see
    docs/diagnosis.md).

    Args:
        model: keras.Model. A compiled and built Sequential or functional model (start it with
            `keras.Input`).
        x: np.ndarray. Training inputs.
        y: np.ndarray. Training targets. Defaults to `None`.
        samples: int. Rows drawn from `x` for the check. Defaults to `512`.
        batch_size: int. Rows per trial step. Defaults to `32`.
        steps: int. Trial training steps (0: none). Defaults to `20`.
        seed: int. Seed of the rows drawn and of the batch order. Defaults to `0`.

    Returns:
        A `Diagnosis`: the findings, printable as a short report, and the `evidence` read.

    Example:

    >>> import keras, numpy as np
    >>> from keras_tricks.diagnostics import diagnose
    >>> x = np.random.default_rng(0).uniform(0, 255, size=(256, 8)).astype("float32")  # raw pixels
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
    ...                           keras.layers.Dense(1)])
    >>> model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    >>> diagnosis = diagnose(model, x, x.mean(axis=1) / 255, steps=5)
    >>> "unscaled_inputs" in diagnosis.codes
    True
    >>> print(diagnosis.first("unscaled_inputs").message)
    the inputs have mean 127 and std 74.2 (scaled inputs are about 0 and 1)

    References:
        - Géron, *Hands-On Machine Learning*, 3rd ed., chapter 11.
        - Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural networks",
          AISTATS 2010.
    """
    import keras

    from keras_tricks import _checks
    from keras_tricks.diagnostics import _evidence

    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected model to be a keras.Model. Received: model={model!r}")
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise ValueError(
            f"Expected a compiled model: call model.compile() first. Received: model={model.name}"
        )
    if not model.built:
        raise ValueError(
            "diagnose reads a built model and leaves it as it is: start it with keras.Input, or call it on a "
            f"batch first. Received: model={model.name!r}, not built"
        )
    samples = _checks.positive_int("samples", samples)
    batch_size = _checks.positive_int("batch_size", batch_size)
    steps = _checks.non_negative_int("steps", steps)
    seed = _checks.integer("seed", seed)
    x = np.asarray(x)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"Expected x to hold at least one row. Received: x.shape={x.shape}")
    rows = np.random.default_rng(seed).permutation(len(x))[:samples]
    sample_x, sample_y = x[rows], (None if y is None else np.asarray(y)[rows])
    evidence = {
        "inputs": _evidence.input_scale(sample_x),
        "activations": _evidence.activations(model, sample_x),
        "self_normalizing": _evidence.self_normalizing_problems(model, sample_x),
        **_evidence.gradients(model, sample_x, sample_y, batch_size=min(len(sample_x), 256), seed=seed),
    }
    if steps:
        trial = _evidence.trial(model, sample_x, sample_y, steps=steps, batch_size=batch_size, seed=seed)
        trial["nonfinite_steps"] = max(trial["nonfinite_steps"], evidence["nonfinite_steps"])
        evidence.update(trial)
    return Diagnosis(read(evidence, None), evidence)
