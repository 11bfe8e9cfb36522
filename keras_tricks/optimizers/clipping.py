"""Gradient maths for `GradientClipping`, as small pure `keras.ops` functions.

Each function takes a list of gradients (any of which may be `None`, which passes through untouched)
and returns a new list; none holds state. The stateful wrapper `GradientClipping` composes them.

Sparse gradients (tensorflow's `tf.IndexedSlices`, from an `Embedding`) are measured and clipped as
their dense form, and stay sparse: pass them through `deduplicate` first (see `_sparse`).

One way to measure, the same maths on every backend and compile setting: each gradient's plain float32
sum of squares (what Keras's own `clipnorm` and `global_clipnorm` take), used where it is exact, and
otherwise, in the branch of a `cond` taken only then, norms scaled by their largest element
(`_scaled_norms`: the textbook way, as BLAS's `nrm2`). A plain sum is exact (to ~1e-6 of itself) when it
is finite and no smaller than `_smallest_exact_sum` (what squares flushed to zero can miss); the scaled
norms are exact for every finite float32 gradient whose norm float32 can hold. Elements below float32's
smallest normal (~1.2e-38) read as 0 on jax and tensorflow, whose CPU kernels treat them as zero in every
float op (the inner optimizer's update too); torch reads them. A gradient is non-finite when one of its
elements is NaN or ±Inf, never because its squares overflow.

The two-scale sums this replaced took no branch on jax, but XLA reordered the products of a
one-element gradient (its norm read 0 above 2⁹ and below ~1e-19 inside `jax.jit`, right when called
eagerly): only sums whose terms are bounded before they are squared are safe from such rewriting.
"""

import collections
import itertools
import math

from keras import ops

from keras_tricks.optimizers import _sparse

# Below this norm a gradient counts as zero: AGC divides by it (the NFNets code uses the same floor).
TINY = 1e-6

# Below this sum of squares a float32 plain sum may have lost precision to underflow.
_SMALLEST_SQUARE = 1e-30


def _smallest_exact_sum(count):
    """The smallest plain float32 sum of `count` squares that is exact to 2⁻²⁰ (~1e-6) of itself.

    XLA and tensorflow flush squares below 2⁻¹²⁶ to zero, so a plain sum misses at most `count` · 2⁻¹²⁶:
    from 2²⁰ times that (and 1e-30) up, what it misses is below 2⁻²⁰ of the sum (2.8e-27 for a 784 ×
    300 kernel, 1.2e-26 for a million elements, 1e-30 below ~81,000 elements).
    """
    return max(_SMALLEST_SQUARE, count * 2.0**-106)


def _count(x, per_unit=False):
    """How many squares a sum over `x` (over one of its units, with `per_unit`) adds up: statically,
    with a sparse gradient's rows bounded by its dense shape, 2⁴⁰ where that is unknown."""
    shape = _sparse.static_shape(x)
    dims = shape[:-1] if per_unit and len(shape) > 1 else shape
    return 2**40 if None in dims else math.prod(dims)


Measure = collections.namedtuple("Measure", ["norms", "global_norm", "finite", "units"], defaults=(None,))
Measure.__doc__ = """The norms of a list of gradients (`measure`, `measure_unitwise`).

Attributes:
    norms: float32 vector, the L2 norm of each gradient (0 for `None` or an empty one).
    global_norm: float32 scalar, (Σᵢ ‖gᵢ‖²)^½.
    finite: bool scalar, whether every element of every gradient is finite.
    units: `None` (`measure`), or (`measure_unitwise`) one entry per gradient: its unit-wise norms as
        `unitwise_norms` gives them, `None` for an absent or empty gradient.
"""


def deduplicate(grads):
    """Sums the rows of repeated indices of sparse gradients (so that rows are the dense form's)."""
    return [None if g is None else _sparse.deduplicated(g) for g in grads]


def _values(g):
    return ops.cast(_sparse.values(g), "float32")


def _has_elements(g):
    return g is not None and all(d != 0 for d in _sparse.values(g).shape)


# `_scaled_norms` scales each sum by the power of two picked by how many of these edges its largest
# element reaches: from 2⁻⁹⁴ to 2⁹⁸, 32 binary orders apart, so that the largest scaled element lies in
# [2⁻¹⁶, 2¹⁶) (for a largest element of at least float32's smallest normal). Powers of two: the scaling
# is exact, and picked by comparisons, not computed by `log2`/`exp2`, whose XLA forms are not exact.
_EDGES = tuple(2.0**k for k in range(-94, 99, 32))
_EXPONENTS = tuple(110 - 32 * i for i in range(len(_EDGES) + 1))


def _scaled_norms(x, axes=None):
    """The L2 norms of `x` over `axes` (all by default), exact for every finite float32 `x`, and whether
    each is finite.

    Each sum is of (|x|·2ᵏ)² with 2ᵏ picked from the largest |x| of the sum (`_EDGES`): its largest term
    lies in [2⁻³², 2³²), so that up to 2⁴⁰ terms neither overflow nor lose more than 2⁻⁹⁰ of the sum to
    squares flushed to zero. Two passes over `x` (its largest element, then the sum), where a plain sum
    takes one: `measure` calls this only when a plain sum is out of its exact range.
    """
    magnitude = ops.abs(x)
    largest = ops.max(magnitude, axis=axes)
    index = sum(ops.cast(largest >= edge, "int32") for edge in _EDGES)
    scale = ops.take(ops.array([2.0**k for k in _EXPONENTS]), index)
    unscale = ops.take(ops.array([2.0**-k for k in _EXPONENTS]), index)
    scaled = magnitude * scale  # `scale` broadcasts over the summed axes (the units are the last one)
    sums = ops.sum(scaled * scaled, axis=axes)
    return ops.sqrt(sums) * unscale, ops.isfinite(sums)


def _plain_sums(x, axes=None):
    return ops.sum(ops.square(_values(x)), axis=axes)


def _unit_axes(x):
    """The axes a unit's norm is taken over: all but the last (the output units), none for a bias or
    scalar, which is one unit (summed over all of its axes)."""
    rank = len(_sparse.values(x).shape)
    return tuple(range(rank - 1)) if rank > 1 else None


def _sums_exact(squares, grads, present):
    """Whether each present gradient's plain sum of squares (a vector, 0 where absent) is exact to ~1e-6
    of itself despite squares flushed to zero (`_smallest_exact_sum`): one bool scalar."""
    smallest = [_smallest_exact_sum(_count(g)) if p else 0.0 for g, p in zip(grads, present, strict=True)]
    return ops.all(squares >= ops.array(smallest))


def measure(grads):
    """The `Measure` of `grads`: each gradient's norm, the global norm and whether all are finite.

    One plain sum of squares per gradient; where one is out of its exact range (or their total
    overflows), the norms scaled by their largest elements instead, in a `cond`'s other branch.
    """
    present = [_has_elements(g) for g in grads]
    if not any(present):
        return Measure(ops.zeros((len(grads),)), ops.zeros(()), ops.ones((), dtype="bool"))
    zero = ops.zeros(())
    squares = ops.stack([_plain_sums(g) if p else zero for g, p in zip(grads, present, strict=True)])
    total = ops.sum(squares)
    in_range = ops.logical_and(ops.isfinite(total), _sums_exact(squares, grads, present))

    def plain():
        return ops.sqrt(squares), ops.sqrt(total), ops.ones((), dtype="bool")

    def exact():
        norms, finite = _exact_norms(grads, present)
        return norms, combined_norm(norms), finite

    return Measure(*ops.cond(in_range, plain, exact))


def _exact_norms(grads, present, units=None):
    """Each gradient's norm (0 where absent) from `_scaled_norms`, or from its unit norms when given,
    and whether all are finite."""
    norms, finite = [], []
    for index, (g, p) in enumerate(zip(grads, present, strict=True)):
        if not p:
            norms.append(ops.zeros(()))
            continue
        if units is None:
            norm, ok = _scaled_norms(_values(g))
        else:
            norm, ok = combined_norm(ops.reshape(units[index][0], (-1,))), ops.all(units[index][1])
        norms.append(norm)
        finite.append(ok)
    return ops.stack(norms), ops.all(ops.stack(finite))


def measure_unitwise(grads, floor=0.0):
    """The `Measure` of `grads` with each gradient's unit-wise norms (`units`), in one pass over each.

    Each gradient's plain sums of squares are taken per output unit (as `unitwise_norms`) and added up
    for its norm: AGC needs both. Where a sum is out of its exact range, the unit norms scaled by each
    unit's largest element instead (`_scaled_norms`), in a `cond`'s other branch, and each gradient's
    norm combined from them. A gradient's norm is then a sum in another order than `measure`'s: within
    ~5e-7 of it (relative), not bit for bit.

    `floor` (AGC's smallest limit, clipping · eps) says which unit norms need not be exact: a unit whose
    plain sum underflowed keeps the plain branch when its exact norm cannot exceed `floor` (it may then
    read lower, never above `floor`): a dead ReLU unit does not send every step to the other branch.
    """
    present = [_has_elements(g) for g in grads]
    if not any(present):
        return measure(grads)._replace(units=[None] * len(grads))
    zero = ops.zeros(())
    unit_sums = [_plain_sums(g, _unit_axes(g)) if p else None for g, p in zip(grads, present, strict=True)]
    squares = ops.stack([zero if s is None else ops.sum(s) for s in unit_sums])
    total = ops.sum(squares)
    present_sums = [s for s in unit_sums if s is not None]
    present_grads = [g for g, p in zip(grads, present, strict=True) if p]
    in_range = ops.logical_and(
        _sums_exact(squares, grads, present), _units_in_range(present_sums, present_grads, floor, total)
    )

    def plain():
        units = [_unit_shaped(ops.sqrt(s), g) for g, s in zip(present_grads, present_sums, strict=True)]
        return ops.sqrt(squares), ops.sqrt(total), ops.ones((), dtype="bool"), units

    def exact():
        scaled = [
            _scaled_norms(_values(g), _unit_axes(g)) if p else None
            for g, p in zip(grads, present, strict=True)
        ]
        norms, finite = _exact_norms(grads, present, scaled)
        units = [_unit_shaped(s[0], g) for g, s in zip(grads, scaled, strict=True) if s is not None]
        return norms, combined_norm(norms), finite, units

    norms, norm, finite, units = ops.cond(in_range, plain, exact)
    units = iter(units)
    return Measure(norms, norm, finite, [next(units) if p else None for p in present])


def _units_in_range(sums, tensors, floor, total=None):
    """Whether the plain unit sums of `tensors` give their unit norms as the exact ones would (to
    ~1e-6), up to norms that cannot exceed `floor`, as one bool scalar: the sums' `total` finite (every
    sum finite), and no sum below `_smallest_exact_sum`, where it may have lost squares to underflow.
    Such a sum misses at most 2⁻¹²⁶ per element: where that cannot lift a norm above `floor`, only
    finiteness counts. One check for the whole list: on tensorflow and torch each op of it costs what a
    small sum does."""
    if total is None:
        total = ops.sum(ops.stack([ops.sum(s) for s in sums]))
    strict = []
    for s, x in zip(sums, tensors, strict=True):
        count = _count(x, per_unit=True)
        smallest = _smallest_exact_sum(count)
        if floor**2 < smallest + count * 2.0**-126:
            strict.append(ops.reshape(s, (-1,)) * (1.0 / smallest))
    finite = ops.isfinite(total)
    if not strict:
        return finite
    return ops.logical_and(finite, ops.min(ops.concatenate(strict)) >= 1.0)


def combined_norm(norms):
    """(Σᵢ nᵢ²)^½ of a vector of norms, computed as m·(Σᵢ (nᵢ/m)²)^½ with m = maxᵢ nᵢ (no overflow).

    NaN when a norm is NaN, +Inf when one is +Inf.
    """
    largest = ops.max(norms)
    # Above 2⁶⁴ both sides of nᵢ/m are scaled by 2⁻⁶⁴ first: XLA divides by multiplying with 1/m, which
    # flushes to 0 for m above 2¹²⁶ (every ratio would read 0).
    scale = ops.where(largest > 2.0**64, 2.0**-64, 1.0)
    safe = ops.where(largest > 0, largest * scale, 1.0)
    return largest * ops.sqrt(ops.sum(ops.square(norms * scale / safe)))


def _scale(grads, factors):
    """Each gradient times its factor, a pair `(prescale, factor)` (`_factor`).

    The prescale goes through a `where`: as a product, tensorflow's graph optimizer joins it with the
    factor's (g·p)·f = g·(p·f), and p·f, below float32's smallest normal, flushes to zero.
    """
    scaled = []
    for g, (p, f) in zip(grads, factors, strict=True):
        if g is None:
            scaled.append(None)
            continue
        values = _sparse.values(g)
        values = ops.where(p < 1.0, values * 2.0**-64, values)
        scaled.append(_sparse.with_values(g, ops.multiply(values, ops.cast(f, g.dtype))))
    return scaled


# Above this multiple of its limit a norm's factor, limit / norm, is below 2⁻⁶⁴ (for a limit below
# 2⁻⁶², below float32's smallest normal, which XLA and tensorflow flush to zero): such a gradient is
# scaled by 2⁻⁶⁴ first (exact where its product matters), and the factor taken against the norm so scaled.
_PRESCALE_ABOVE = 2.0**64


def _factor(norm, limit):
    """min(1, limit / norm) as a pair `(prescale, factor)` of normal floats whose product it is.

    `where`, not limit / max(norm, limit): a zero limit (AutoClip's first step on a zero gradient) must
    leave the gradient alone, not make it 0 / 0.
    """
    prescale = ops.where(norm > limit * _PRESCALE_ABOVE, 2.0**-64, 1.0)
    return prescale, ops.where(norm > limit, limit / ops.where(norm > 0, norm * prescale, 1.0), 1.0)


def clip_by_value(grads, threshold):
    """Clips each gradient element to `[-threshold, threshold]`."""
    return [
        None if g is None else _sparse.with_values(g, ops.clip(_sparse.values(g), -threshold, threshold))
        for g in grads
    ]


def exceeds_value(grads, threshold):
    """Whether some element of some gradient is larger than `threshold` in magnitude (a bool scalar)."""
    return any_of([ops.any(ops.abs(_sparse.values(g)) > threshold) for g in grads if g is not None])


def clip_by_norm(grads, threshold, norms):
    """Rescales each gradient whose own L2 norm (`norms`, a vector as `measure` gives) exceeds
    `threshold` to norm `threshold`."""
    return _scale(grads, [_factor(norms[i], threshold) for i in range(len(grads))])


def clip_by_global_norm(grads, threshold, norm):
    """Rescales all gradients together so that their global norm (`norm`) is at most `threshold`."""
    return _scale(grads, [_factor(norm, threshold)] * len(grads))


def unitwise_norms(tensors, floor=0.0):
    """The L2 norm of each output unit of each tensor of a list, broadcastable against it, where norms
    that cannot exceed `floor` need not be exact (AGC's weights: a unit's norm counts as at least eps).

    Keras stores kernels with the output units on the last axis (Dense `(in, out)`, Conv `(h, w, in,
    out)`), so a unit's norm is taken over all the other axes; a bias or scalar is one unit. Exact, like
    `measure`, for every finite float32 tensor.

    Plain sums of squares, with the scaled ones (`_scaled_norms`) in one branch taken when a sum is out
    of range (`_units_in_range`), as in `measure_unitwise`.
    """
    if not tensors:
        return []
    sums = [_plain_sums(x, _unit_axes(x)) for x in tensors]
    return ops.cond(
        _units_in_range(sums, tensors, floor),
        lambda: [_unit_shaped(ops.sqrt(s), x) for x, s in zip(tensors, sums, strict=True)],
        lambda: [_unit_shaped(_scaled_norms(_values(x), _unit_axes(x))[0], x) for x in tensors],
    )


def _unit_shaped(norms, x):
    """Unit norms (a vector, or a scalar for a bias or scalar) shaped as `unitwise_norms` gives them."""
    rank = len(_values(x).shape)
    return norms if rank <= 1 else ops.reshape(norms, (1,) * (rank - 1) + (norms.shape[-1],))


def adaptive_factors(grads, weights, clipping, eps, units):
    """AGC's factor for each unit of each present gradient, whether any unit is rescaled, and the norm.

    Returns `(factors, changed, clipped_norm)`: one factor per gradient that is not `None`, in order (a
    pair `(prescale, factor)` of tensors broadcastable against it, as `_factor` gives), a boolean
    scalar, and the global norm of the clipped gradients (from the units' clipped norms: no second
    pass over the gradients). A unit's gradient G is rescaled to norm λ · max(‖W‖, ε) when its norm
    exceeds that (Brock et al. 2021, eq. 3), where W is the unit's weights, λ = `clipping`, ε = `eps`.
    `units` (one entry per gradient, as `measure_unitwise(grads).units`) gives the gradients' unit-wise
    norms.
    """
    measured = [(w, u) for g, w, u in zip(grads, weights, units, strict=True) if u is not None]
    if not measured:
        ones = (ops.ones(()), ops.ones(()))
        return [ones for g in grads if g is not None], ops.zeros((), dtype="bool"), ops.zeros(())
    # All units of all gradients at once, as one vector: a few ops in all, not a few per gradient.
    weight_norms = unitwise_norms([w for w, _ in measured], floor=eps)
    g_norm = ops.concatenate([ops.reshape(u, (-1,)) for _, u in measured])
    max_norm = clipping * ops.maximum(ops.concatenate([ops.reshape(n, (-1,)) for n in weight_norms]), eps)
    exceeds = g_norm > max_norm
    # As `_factor` (with NFNets' floor of TINY under a gradient's norm), unit by unit.
    prescale = ops.where(g_norm > max_norm * _PRESCALE_ABOVE, 2.0**-64, 1.0)
    factor = ops.where(exceeds, max_norm / (ops.maximum(g_norm, TINY) * prescale), 1.0)
    # The clipped global norm from the units' clipped norms: no second pass over the gradients.
    clipped_norm = combined_norm(g_norm * prescale * factor)
    sizes = [math.prod(u.shape) for _, u in measured]
    cuts = list(itertools.accumulate(sizes))[:-1]
    pieces = [ops.split(v, cuts) if cuts else [v] for v in (prescale, factor)]
    shaped = iter(
        tuple(ops.reshape(v, u.shape) for v in pair)
        for pair, (_, u) in zip(zip(*pieces, strict=True), measured, strict=True)
    )
    factors = [
        (ops.ones(()), ops.ones(())) if u is None else next(shaped)
        for g, u in zip(grads, units, strict=True)
        if g is not None
    ]
    return factors, ops.any(exceeds), clipped_norm


def apply_factors(grads, factors):
    """Multiplies each present gradient by its factor (`factors` as `adaptive_factors` gives them)."""
    factors = iter(factors)
    return [None if g is None else _scale([g], [next(factors)])[0] for g in grads]


def any_of(flags):
    """The logical or of boolean scalars (`False` for none)."""
    return ops.any(ops.stack(flags)) if flags else ops.zeros((), dtype="bool")


def percentile_of_sorted(ordered, count, percentile):
    """The `percentile`-th percentile (NumPy's linear method) of the `count` first, sorted, entries.

    Interpolated as low·(1 − t) + high·t, not low + t·(high − low): the difference of two close norms
    below ~1e-30 may fall below float32's smallest normal and flush to zero.
    """
    n = ops.minimum(count, ordered.shape[0])
    rank = ops.cast(n - 1, "float32") * (percentile / 100.0)
    low = ops.cast(ops.floor(rank), "int32")
    high = ops.minimum(low + 1, ops.cast(n - 1, "int32"))
    low_value, high_value = ops.take(ordered, low), ops.take(ordered, high)
    t = rank - ops.cast(low, "float32")
    return ops.where(t > 0, low_value * (1.0 - t) + high_value * t, low_value)


def sorted_update(ordered, count, removed, added):
    """The sorted buffer `ordered` (its first `count` entries) with `removed` taken out and `added` put in.

    `removed` is `None` or a bool scalar flag with its value, `(flag, value)`; the value must be one of
    the entries. Linear in the buffer's length (shifts by one place), where sorting is n·log n.
    """
    window = ordered.shape[0]
    index = ops.arange(window)
    ordered = ops.where(index < count, ordered, float("inf"))
    if removed is not None:
        flag, value = removed
        # The first entry equal to `value` is at the number of entries below it; later ones move up.
        at = ops.sum(ops.cast(ordered < value, "int32"))
        shifted = ops.concatenate([ordered[1:], ops.full((1,), float("inf"), ordered.dtype)])
        ordered = ops.where(ops.logical_and(flag, index >= at), shifted, ordered)
    # `added` goes before the first entry not below it; later ones move down.
    at = ops.sum(ops.cast(ordered < added, "int32"))
    # Shifted by one by slicing (as `roll` would; entry 0 of the shifted copy is never read: index 0 is
    # below or at `at`).
    shifted = ops.concatenate([ordered[:1], ordered[:-1]])
    return ops.where(index < at, ordered, ops.where(index == at, added, shifted))
