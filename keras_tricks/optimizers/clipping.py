"""Gradient maths for `GradientClipping`, as small pure `keras.ops` functions.

Each function takes a list of gradients (any of which may be `None`, which passes through untouched)
and returns a new list; none holds state. The stateful wrapper `GradientClipping` composes them.

Sparse gradients (tensorflow's `tf.IndexedSlices`, from an `Embedding`) are measured and clipped as
their dense form, and stay sparse: pass them through `deduplicate` first (see `_sparse`).

Norms never overflow nor underflow for a finite gradient: `measure` sums squares in float32 (the fast
path, exact for every gradient whose sum of squares lies between 1e-30 and ~3.4e38) and, only when a sum
falls outside, measures again with each gradient scaled by its largest magnitude, ‖g‖ = m·‖g/m‖ (the
classic remedy, as in LAPACK's `nrm2`), in a branch of `ops.cond` that costs nothing when not taken. A
gradient is non-finite when one of its elements is NaN or ±Inf, never because its squares overflow.
"""

import collections

from keras import ops

from keras_tricks.optimizers import _sparse

# Below this norm a gradient counts as zero: AGC divides by it (the NFNets code uses the same floor).
TINY = 1e-6

# Below this sum of squares the float32 sum loses precision to underflow: such a gradient is measured scaled.
_SMALLEST_SQUARE = 1e-30

Measure = collections.namedtuple("Measure", ["norms", "global_norm", "finite", "fast"])
Measure.__doc__ = """The norms of a list of gradients (`measure`).

Attributes:
    norms: float32 vector, the L2 norm of each gradient (0 for `None` or an empty one).
    global_norm: float32 scalar, (Σᵢ ‖gᵢ‖²)^½.
    finite: bool scalar, whether every element of every gradient is finite.
    fast: bool scalar, whether the squares summed without overflow (then `finite` is true).
"""


def deduplicate(grads):
    """Sums the rows of repeated indices of sparse gradients (so that rows are the dense form's)."""
    return [None if g is None else _sparse.deduplicated(g) for g in grads]


def _values(g):
    return ops.cast(_sparse.values(g), "float32")


def _has_elements(g):
    return g is not None and all(d != 0 for d in _sparse.values(g).shape)


def squared_norms(grads):
    """The squared L2 norm of each gradient, as float32 scalars (`None` for a `None` gradient).

    Plain sums of squares: they overflow to `inf` for gradients with elements above ~1e19 (see
    `measure`).
    """
    return [None if g is None else ops.sum(ops.square(_values(g))) for g in grads]


def _scaled_norm(values):
    """‖x‖ as m·‖x/m‖ with m = max|x|: no overflow for a finite x; 0 for x = 0."""
    largest = ops.max(ops.abs(values))
    safe = ops.where(largest > 0, largest, 1.0)
    return largest * ops.sqrt(ops.sum(ops.square(values / safe)))


def measure(grads):
    """The `Measure` of `grads`: each gradient's norm, the global norm and whether all are finite."""
    present = [_has_elements(g) for g in grads]

    def per_gradient(norm_of):
        zero = ops.zeros(())
        return ops.stack([norm_of(_values(g)) if p else zero for g, p in zip(grads, present, strict=True)])

    if not any(present):
        true = ops.ones((), dtype="bool")
        return Measure(ops.zeros((len(grads),)), ops.zeros(()), true, true)
    squares = per_gradient(lambda v: ops.sum(ops.square(v)))
    total = ops.sum(squares)
    # The squares are exact enough when none overflows and none underflows (a gradient below ~1e-15 has
    # squares at the bottom of float32's range, an all-zero one a sum of 0): else measure scaled.
    smallest = ops.min(ops.where(ops.array(present), squares, float("inf")))
    fast = ops.logical_and(ops.isfinite(total), smallest >= _SMALLEST_SQUARE)

    def plain():
        return ops.sqrt(squares), ops.sqrt(total), ops.ones((), dtype="bool")

    def scaled():
        norms = per_gradient(_scaled_norm)
        largest = ops.max(norms)
        safe = ops.where(largest > 0, largest, 1.0)
        global_norm = largest * ops.sqrt(ops.sum(ops.square(norms / safe)))
        # x·0 is 0 for a finite x, NaN for NaN and ±Inf: its sum is finite exactly when all elements are.
        finite = ops.all(ops.isfinite(per_gradient(lambda v: ops.sum(v * 0.0))))
        return norms, global_norm, finite

    norms, global_norm, finite = ops.cond(fast, plain, scaled)
    return Measure(norms, global_norm, finite, fast)


def global_norm(grads):
    """The L2 norm of all the gradients taken together, a float32 scalar (overflow-safe)."""
    return measure(grads).global_norm


def _scale(grads, factors):
    return [
        None if g is None else _sparse.with_values(g, ops.multiply(_sparse.values(g), ops.cast(f, g.dtype)))
        for g, f in zip(grads, factors, strict=True)
    ]


def _factor(norm, threshold):
    # `where`, not threshold / max(norm, threshold): a zero threshold (AutoClip's first step on a zero
    # gradient) must leave the gradient alone, not make it 0 / 0.
    return ops.where(norm > threshold, threshold / ops.where(norm > 0, norm, 1.0), 1.0)


def clip_by_value(grads, threshold):
    """Clips each gradient element to `[-threshold, threshold]`."""
    return [
        None if g is None else _sparse.with_values(g, ops.clip(_sparse.values(g), -threshold, threshold))
        for g in grads
    ]


def exceeds_value(grads, threshold):
    """Whether some element of some gradient is larger than `threshold` in magnitude (a bool scalar)."""
    return any_of([ops.any(ops.abs(_sparse.values(g)) > threshold) for g in grads if g is not None])


def clip_by_norm(grads, threshold, norms=None):
    """Rescales each gradient whose own L2 norm exceeds `threshold` to norm `threshold`.

    `norms` (a vector of each gradient's norm, as `measure` gives) may be given when already computed.
    """
    if norms is None:
        norms = measure(grads).norms
    return _scale(grads, [_factor(norms[i], threshold) for i in range(len(grads))])


def clip_by_global_norm(grads, threshold, norm=None):
    """Rescales all gradients together so that their global norm is at most `threshold`.

    `norm` (the global norm) may be given when already computed.
    """
    if norm is None:
        norm = global_norm(grads)
    return _scale(grads, [_factor(norm, threshold)] * len(grads))


def unitwise_norm(x, scaled=False):
    """The L2 norm of each output unit of a weight or gradient, broadcastable against `x`.

    Keras stores kernels with the output units on the last axis (Dense `(in, out)`, Conv `(h, w, in,
    out)`), so a unit's norm is taken over all the other axes; a bias or scalar is one unit. With
    `scaled=True` each unit is divided by its largest magnitude first (no overflow for finite `x`).
    """
    x = _values(x)
    axes = None if len(x.shape) <= 1 else tuple(range(len(x.shape) - 1))
    keepdims = len(x.shape) > 1
    if not scaled:
        return ops.sqrt(ops.sum(ops.square(x), axis=axes, keepdims=keepdims))
    largest = ops.max(ops.abs(x), axis=axes, keepdims=keepdims)
    safe = ops.where(largest > 0, largest, 1.0)
    return largest * ops.sqrt(ops.sum(ops.square(x / safe), axis=axes, keepdims=keepdims))


def adaptive_factors(grads, weights, clipping, eps, scaled=False):
    """AGC's factor for each unit of each present gradient, and whether any unit is rescaled.

    Returns `(factors, changed)`: one factor tensor (broadcastable against its gradient) per gradient
    that is not `None`, in order, and a boolean scalar. See `adaptive_clip`.
    """
    factors, changed = [], []
    for g, w in zip(grads, weights, strict=True):
        if g is None:
            continue
        if not _has_elements(g):
            factors.append(ops.ones(()))
            continue
        max_norm = clipping * ops.maximum(unitwise_norm(w), eps)
        g_norm = unitwise_norm(g, scaled=scaled)
        exceeds = g_norm > max_norm
        factors.append(ops.where(exceeds, max_norm / ops.maximum(g_norm, TINY), 1.0))
        changed.append(ops.any(exceeds))
    return factors, any_of(changed)


def apply_factors(grads, factors):
    """Multiplies each present gradient by its factor (`factors` as `adaptive_factors` gives them)."""
    factors = iter(factors)
    return [None if g is None else _scale([g], [next(factors)])[0] for g in grads]


def adaptive_clip(grads, weights, clipping, eps, return_changed=False, scaled=False):
    """Unit-wise adaptive gradient clipping (AGC), Brock et al. 2021, eq. (3).

    A unit's gradient `G` is rescaled to norm `λ · max(‖W‖, ε)` when its norm exceeds that, where `W`
    is the unit's weights, `λ = clipping` and `ε = eps`. With `return_changed=True`, also returns a
    boolean scalar: whether any unit was rescaled. `scaled=True` measures the gradient's units without
    overflow (see `unitwise_norm`).
    """
    factors, changed = adaptive_factors(grads, weights, clipping, eps, scaled=scaled)
    clipped = apply_factors(grads, factors)
    return (clipped, changed) if return_changed else clipped


def any_of(flags):
    """The logical or of boolean scalars (`False` for none)."""
    return ops.any(ops.stack(flags)) if flags else ops.zeros((), dtype="bool")


def percentile_of_history(history, count, percentile):
    """The `percentile`-th percentile (NumPy's linear method) of the first `count` entries of `history`.

    `history` is a float32 ring buffer; `count` (an int scalar, at least 1) of its entries are filled.
    """
    window = history.shape[0]
    n = ops.minimum(count, window)
    filled = ops.arange(window) < n
    ordered = ops.sort(ops.where(filled, history, float("inf")))
    rank = ops.cast(n - 1, "float32") * (percentile / 100.0)
    low = ops.cast(ops.floor(rank), "int32")
    high = ops.minimum(low + 1, ops.cast(n - 1, "int32"))
    low_value, high_value = ops.take(ordered, low), ops.take(ordered, high)
    return low_value + (rank - ops.cast(low, "float32")) * (high_value - low_value)
