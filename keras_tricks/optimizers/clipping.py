"""Gradient maths for `GradientClipping`, as small pure `keras.ops` functions.

Each function takes a list of gradients (any of which may be `None`, which passes through untouched)
and returns a new list; none holds state. The stateful wrapper `GradientClipping` composes them.
"""

from keras import ops

# Below this norm a gradient counts as zero: AGC divides by it (the NFNets code uses the same floor).
TINY = 1e-6


def squared_norms(grads):
    """The squared L2 norm of each gradient, as float32 scalars (`None` for a `None` gradient)."""
    return [None if g is None else ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads]


def global_norm(grads):
    """The L2 norm of all the gradients taken together, a float32 scalar."""
    return ops.sqrt(ops.sum(ops.stack([s for s in squared_norms(grads) if s is not None])))


def _scale(grads, factors):
    return [
        None if g is None else ops.multiply(g, ops.cast(f, g.dtype))
        for g, f in zip(grads, factors, strict=True)
    ]


def _factor(norm, threshold):
    # `where`, not threshold / max(norm, threshold): a zero threshold (AutoClip's first step on a zero
    # gradient) must leave the gradient alone, not make it 0 / 0.
    return ops.where(norm > threshold, threshold / norm, 1.0)


def clip_by_value(grads, threshold):
    """Clips each gradient element to `[-threshold, threshold]`."""
    return [None if g is None else ops.clip(g, -threshold, threshold) for g in grads]


def clip_by_norm(grads, threshold, norms=None):
    """Rescales each gradient whose own L2 norm exceeds `threshold` to norm `threshold`.

    `norms` (each gradient's norm) may be given when already computed.
    """
    if norms is None:
        norms = [None if s is None else ops.sqrt(s) for s in squared_norms(grads)]
    return _scale(grads, [None if n is None else _factor(n, threshold) for n in norms])


def clip_by_global_norm(grads, threshold, norm=None):
    """Rescales all gradients together so that their global norm is at most `threshold`.

    `norm` (the global norm) may be given when already computed.
    """
    if norm is None:
        norm = global_norm(grads)
    return _scale(grads, [_factor(norm, threshold)] * len(grads))


def unitwise_norm(x):
    """The L2 norm of each output unit of a weight or gradient, broadcastable against `x`.

    Keras stores kernels with the output units on the last axis (Dense `(in, out)`, Conv `(h, w, in,
    out)`), so a unit's norm is taken over all the other axes; a bias or scalar is one unit.
    """
    x = ops.cast(x, "float32")
    if len(x.shape) <= 1:
        return ops.sqrt(ops.sum(ops.square(x)))
    return ops.sqrt(ops.sum(ops.square(x), axis=tuple(range(len(x.shape) - 1)), keepdims=True))


def adaptive_clip(grads, weights, clipping, eps, return_changed=False):
    """Unit-wise adaptive gradient clipping (AGC), Brock et al. 2021, eq. (3).

    A unit's gradient `G` is rescaled to norm `λ · max(‖W‖, ε)` when its norm exceeds that, where `W`
    is the unit's weights, `λ = clipping` and `ε = eps`. With `return_changed=True`, also returns a
    boolean scalar: whether any unit was rescaled.
    """
    clipped, changed = [], []
    for g, w in zip(grads, weights, strict=True):
        if g is None:
            clipped.append(None)
            continue
        max_norm = clipping * ops.maximum(unitwise_norm(w), eps)
        g_norm = unitwise_norm(g)
        exceeds = g_norm > max_norm
        factor = ops.where(exceeds, max_norm / ops.maximum(g_norm, TINY), 1.0)
        clipped.append(ops.multiply(g, ops.cast(factor, g.dtype)))
        changed.append(ops.any(exceeds))
    return (clipped, any_of(changed)) if return_changed else clipped


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
