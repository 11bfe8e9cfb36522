"""The gradient statistics and the clipping, checked where users run them: inside `model.fit`.

A probe layer whose loss gradients are known in closed form: variables of every shape a model holds (a
scalar `()`, one element, a vector, a Dense kernel, a conv kernel, and an `Embedding`, whose gradient is
sparse on tensorflow), each with the gradient `s · c` for a fixed pattern `c` and a scale `s` set per
variable and per step by the input. Epoch after epoch the scales climb from ~1e-36 (elements from
~5e-37) to float32's largest, the variables of one step often 1e10 apart. In every mode, on every
compile setting (default, `jit_compile=True`, `steps_per_execution=2`; torch runs its default only),
the logged statistics (`GradientNormLogger`: global norms, clipped norms, clip rate, each variable's
norm) and every epoch's weight update must equal a float64 NumPy run of the same steps
(`tests/float64.py`) to 1e-6; where Keras clips exactly (magnitudes whose squares float32 holds), the
weights must equal Keras's own clipping's.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_tricks.callbacks import GradientNormLogger
from keras_tricks.optimizers import GradientClipping, GradientMonitor
from tests import float64

SHAPES = {"scalar": (), "one": (1,), "vector": (3,), "kernel": (4, 3), "conv": (2, 2, 2, 3)}
EMBEDDING_IDS = np.array([0, 2, 2])  # a repeated row: the sparse gradient's rows are summed
NAMES = [*SHAPES, "embeddings"]
BATCH, STEPS_PER_EPOCH = 8, 2
BACKEND = keras.backend.backend()
SETTINGS = {
    "default": {},
    "jit_compile": {"jit_compile": True},
    "steps_per_execution": {"steps_per_execution": 2},
}
MODES = [None, "value", "norm", "global_norm", "adaptive", "percentile"]
OPTIONS = {"threshold": 1.0, "clipping": 0.01, "eps": 1e-3, "percentile": 50.0, "window": 5}


def _patterns(seed):
    """Each variable's gradient pattern `c`: elements of magnitude 0.5 to 1, random signs."""
    rng = np.random.default_rng(seed)
    shapes = {**SHAPES, "embeddings": (len(EMBEDDING_IDS), 3)}
    return {
        name: (rng.uniform(0.5, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)).astype("float32")
        for name, shape in shapes.items()
    }


class Probe(keras.layers.Layer):
    """Outputs `x[:, i] · Σ((wᵢ − stop_gradient(wᵢ)) · cᵢ)` per variable: 0 in value, and with a loss that
    sums them the gradient of wᵢ is cᵢ times the batch's mean of `x[:, i]`, whatever the weights."""

    def __init__(self, patterns, **kwargs):
        super().__init__(**kwargs)
        self.patterns = patterns
        self.embedding = keras.layers.Embedding(4, 3, embeddings_initializer="zeros", name="embedding")

    def build(self, input_shape):
        for name, shape in SHAPES.items():
            setattr(self, name, self.add_weight(shape=shape, initializer="zeros", name=name))
        self.embedding.build((len(EMBEDDING_IDS),))

    def call(self, x):
        live = [getattr(self, name) for name in SHAPES]
        live = [ops.convert_to_tensor(w) for w in live] + [
            self.embedding(ops.convert_to_tensor(EMBEDDING_IDS))
        ]
        terms = [
            x[:, i] * ops.sum((w - ops.stop_gradient(w)) * ops.convert_to_tensor(self.patterns[name]))
            for i, (name, w) in enumerate(zip(NAMES, live, strict=True))
        ]
        return ops.stack(terms, axis=1)


def _summed(y_true, y_pred):
    return ops.sum(y_pred, axis=-1)


# The smallest exponents: below them the backward pass itself loses the gradient's smallest terms
# (per-sample terms of ~1e-37 / 8, an embedding row's cancelling terms) to float32's flushed subnormals.
LOWEST = np.array([-36.0] * len(SHAPES) + [-35.0])


def _scales(seed, exponents):
    """The scale of each variable at each step, `(steps, variables)`: the epochs' exponents climb, each
    variable drawn within ±1 of its epoch's (10 orders apart between some variables in one step), the
    two steps of an epoch within 2× of each other. Kept above `LOWEST`, and the global norm within
    float32's largest."""
    rng = np.random.default_rng(seed)
    rows = []
    for exponent in exponents:
        offsets = rng.uniform(-1.0, 1.0, size=len(NAMES))
        offsets[rng.integers(len(NAMES))] -= 10.0  # one variable far below the others
        for _ in range(STEPS_PER_EPOCH):
            rows.append(10.0 ** np.clip(exponent + offsets + rng.uniform(-0.15, 0.15), LOWEST, 36.5))
    scales = np.array(rows)
    if exponents[-1] >= 38:
        # The last epoch: a scalar gradient near float32's largest, the others small. (An epoch's means
        # are running sums of float32 norms: they read `inf` once an epoch's sum passes float32's largest.)
        scales[-STEPS_PER_EPOCH:] = 1e-3
        scales[-STEPS_PER_EPOCH:, NAMES.index("scalar")] = [3.0e38, 1e30]
    return scales


def _gradients(patterns, scales):
    """The float64 gradient of each variable at one step (the embedding's dense: rows of a repeated id
    summed)."""
    grads = [patterns[name].astype("float64") * scale for name, scale in zip(NAMES, scales, strict=True)]
    table = np.zeros((4, 3))
    np.add.at(table, EMBEDDING_IDS, grads[-1])
    return grads[:-1] + [table]


class _EpochWeights(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = [self._read()]

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self._read())

    def _read(self):
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:
            sync()
        return [ops.convert_to_numpy(w).astype("float64") for w in self.model.trainable_weights]


def _fit(optimizer, patterns, scales, settings, callbacks=()):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((len(NAMES),))
    model = keras.Model(inputs, Probe(patterns, name="probe")(inputs))
    model.compile(optimizer=optimizer, loss=_summed, **settings)
    x = np.repeat(scales, BATCH, axis=0).astype("float32")
    weights = _EpochWeights()
    history = model.fit(
        x,
        np.zeros((len(x), len(NAMES)), "float32"),
        batch_size=BATCH,
        epochs=len(scales) // STEPS_PER_EPOCH,
        steps_per_epoch=STEPS_PER_EPOCH,  # an epoch of two steps: the data runs on across epochs
        shuffle=False,
        verbose=0,
        callbacks=[*callbacks, weights],
    )
    order = [NAMES.index(w.path.split("/")[-1]) for w in model.trainable_weights]
    return history.history, [[epoch[order.index(i)] for i in range(len(NAMES))] for epoch in weights.weights]


def _reference(mode, patterns, scales, start_weights):
    """Per epoch: the statistics the logger writes and the weights' update, in float64, each epoch from
    the weights the fit had at its start (so that one epoch's rounding does not carry into the next)."""
    history, epochs = [], []
    for epoch, start in enumerate(start_weights):
        weights, steps = [w.copy() for w in start], []
        for scales_of_step in scales[epoch * STEPS_PER_EPOCH : (epoch + 1) * STEPS_PER_EPOCH]:
            grads = _gradients(patterns, scales_of_step)
            history = (history + [float64.global_norm(grads)])[-OPTIONS["window"] :]
            clipped, changed, clipped_norm = float64.clip(
                mode, grads, weights, history=history, **{k: OPTIONS[k] for k in OPTIONS if k != "window"}
            )
            weights = [w - c for w, c in zip(weights, clipped, strict=True)]  # SGD(1.0)
            steps.append((grads, changed, clipped_norm))
        epochs.append(
            {
                "grad_norm": np.mean([float64.global_norm(g) for g, _, _ in steps]),
                "grad_norm_max": max(float64.global_norm(g) for g, _, _ in steps),
                "grad_norm_clipped": np.mean([n for _, _, n in steps]),
                "grad_clip_rate": np.mean([c for _, c, _ in steps]),
                "per_variable": [
                    np.mean([float64.norm(g[i]) for g, _, _ in steps]) for i in range(len(NAMES))
                ],
                "update": [w - s for w, s in zip(weights, start, strict=True)],
            }
        )
    return epochs


EXPONENTS = [-36, -30, -20, -10, -3, 0, 2.7, 10, 17, 25, 30, 36, 38]  # 10^2.7 ≈ 500: the 511/513 edge


def _settings():
    cases = []
    for mode in MODES:
        for name, setting in SETTINGS.items():
            if BACKEND == "torch" and name != "default":
                continue  # Keras's torch trainer runs one step per execution and compiles nothing
            cases.append(pytest.param(mode, setting, id=f"{mode}-{name}"))
    return cases


@pytest.mark.parametrize(("mode", "setting"), _settings())
def test_the_logged_norms_and_the_updates_in_fit_equal_float64(mode, setting):
    patterns = _patterns(MODES.index(mode))
    scales = _scales(MODES.index(mode) + 10 * len(setting), EXPONENTS)
    options = {k: OPTIONS[k] for k in OPTIONS}
    optimizer = (
        GradientMonitor(keras.optimizers.SGD(1.0))
        if mode is None
        else GradientClipping(keras.optimizers.SGD(1.0), mode, **options)
    )
    history, weights = _fit(optimizer, patterns, scales, setting, [GradientNormLogger(per_layer=True)])
    expected = _reference(mode, patterns, scales, weights[:-1])
    keys = {
        name: next(k for k in history if k.startswith("grad_norm/") and k.endswith(name)) for name in NAMES
    }
    for epoch, reference in enumerate(expected):
        where = f"epoch {epoch} (exponent {EXPONENTS[epoch]}), mode {mode}, {setting}"
        for key in ("grad_norm", "grad_norm_max", "grad_norm_clipped", "grad_clip_rate"):
            assert history[key][epoch] == pytest.approx(reference[key], rel=1e-6), f"{key}, {where}"
        got = [history[keys[name]][epoch] for name in NAMES]
        np.testing.assert_allclose(got, reference["per_variable"], rtol=1e-6, err_msg=where)
        assert history["grad_nonfinite_steps"][epoch] == 0, where
        for name, start, end, update in zip(
            NAMES, weights[epoch], weights[epoch + 1], reference["update"], strict=True
        ):
            # The update is what the weights got, to float32's rounding of the weights and of the
            # gradient (an embedding row's two terms may cancel: relative to the largest element), and
            # to float32's smallest normal per step (a clipped element below it flushes to zero: AutoClip
            # after a jump of 1e6 in the norm scales a gradient of 1e-36 by 1e-6).
            atol = 2.0**-22 * np.abs(start).max() + 1e-6 * np.abs(update).max() + STEPS_PER_EPOCH * 2.0**-126
            np.testing.assert_allclose(end - start, update, rtol=1e-6, atol=atol, err_msg=f"{name}, {where}")


KERAS_ARGUMENTS = {"value": "clipvalue", "norm": "clipnorm", "global_norm": "global_clipnorm"}


@pytest.mark.parametrize("mode", list(KERAS_ARGUMENTS))
def test_where_keras_clips_exactly_the_weights_equal_kerass_own_clipping(mode):
    # Magnitudes whose squares float32 holds (Keras sums plain squares): from 1e-15 to 1e15. The
    # embedding's gradient is zero: on tensorflow Keras clips its sparse rows as they come, a repeated
    # id's rows apart, where GradientClipping clips the dense gradient (documented).
    patterns = _patterns(0)
    scales = _scales(1, [-14, -5, 0, 0.5, 5, 14])
    scales[:, NAMES.index("embeddings")] = 0.0
    ours = _fit(GradientClipping(keras.optimizers.SGD(1.0), mode, threshold=1.0), patterns, scales, {})[1]
    kerass = _fit(keras.optimizers.SGD(1.0, **{KERAS_ARGUMENTS[mode]: 1.0}), patterns, scales, {})[1]
    for epoch, (a, b) in enumerate(zip(ours, kerass, strict=True)):
        for name, x, y in zip(NAMES, a, b, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-30, err_msg=f"{name}, epoch {epoch}")
