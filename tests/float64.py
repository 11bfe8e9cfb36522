"""The float64 NumPy reference of `GradientClipping`'s maths, shared by the tests that check it.

Each mode as its paper or Keras's argument defines it, on dense float64 arrays (`None` passes through):
the tests compare what the wrapper logs and applies, inside `model.fit` or in one `apply`, with this.
"""

import numpy as np


def norm(g):
    return float(np.sqrt(np.sum(np.asarray(g, "float64") ** 2)))


def global_norm(grads):
    return float(np.sqrt(sum(norm(g) ** 2 for g in grads if g is not None)))


def unit_norm(x):
    """Each output unit's norm (over all axes but the last), broadcastable against `x`; a bias or a
    scalar is one unit."""
    x = np.asarray(x, "float64")
    if x.ndim <= 1:
        return np.sqrt(np.sum(x**2))
    return np.sqrt(np.sum(x**2, axis=tuple(range(x.ndim - 1)), keepdims=True))


def agc(grad, weight, clipping, eps):
    """Brock et al. 2021, eq. (3), unit by unit."""
    limit = clipping * np.maximum(unit_norm(weight), eps)
    grad_norm = unit_norm(grad)
    return np.where(grad_norm > limit, grad * limit / np.maximum(grad_norm, 1e-6), grad)


def clip(mode, grads, weights=None, threshold=1.0, clipping=0.01, eps=1e-3, history=None, percentile=10.0):
    """The clipped gradients, whether clipping changed them, and the global norm of the clipped ones.

    `history` (AutoClip): the global norms of the steps so far, this one last, within the window.
    """
    present = [g for g in grads if g is not None]
    total = global_norm(present)
    if mode == "value":
        clipped = [None if g is None else np.clip(g, -threshold, threshold) for g in grads]
        changed = any(np.any(np.abs(g) > threshold) for g in present)
    elif mode == "norm":
        clipped = [None if g is None or norm(g) <= threshold else g * threshold / norm(g) for g in grads]
        clipped = [c if c is not None or g is None else g for g, c in zip(grads, clipped, strict=True)]
        changed = any(norm(g) > threshold for g in present)
    elif mode in ("global_norm", "percentile"):
        if mode == "percentile":
            threshold = float(np.percentile(np.asarray(history, "float64"), percentile))
        changed = total > threshold
        clipped = [None if g is None else (g * threshold / total if changed else g) for g in grads]
    elif mode == "adaptive":
        clipped = [
            g if g is None or g.size == 0 else agc(g, w, clipping, eps)
            for g, w in zip(grads, weights, strict=True)
        ]
        changed = any(not np.array_equal(c, g) for g, c in zip(grads, clipped, strict=True) if g is not None)
    elif mode is None:
        clipped, changed = list(grads), False
    else:
        raise ValueError(f"Unknown mode: {mode}")
    return clipped, bool(changed), global_norm(clipped)
