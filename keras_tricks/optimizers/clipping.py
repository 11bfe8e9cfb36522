"""Gradient maths for `GradientClipping`, as small pure `keras.ops` functions.

Each function takes a list of gradients (any of which may be `None`, which passes through untouched)
and returns a new list; none holds state. The stateful wrapper `GradientClipping` composes them.

Sparse gradients (tensorflow's `tf.IndexedSlices`, from an `Embedding`) are measured and clipped as
their dense form, and stay sparse: pass them through `deduplicate` first (see `_sparse`).

Norms never overflow for a finite gradient, and are exact (float32 rounding) from ~1e-33 for a scalar
to ~2e-25 for a million elements upward (`_scales`): each sum of squares is taken at two scales in one
reduction, of |x|·2⁻ᵃ and |x|·2ᵇ (exact scalings by powers of two, a and b set by the number of squares
summed), and the norm read from the scaled-up sum unless it overflowed (from a norm of 2⁹ for a scalar,
2²⁷ for a 784 × 300 kernel), from the scaled-down one otherwise. On jax there is no branch: XLA
fuses the two sums into one pass over the gradient, and the train step keeps the shape of Keras's own
`global_clipnorm` (see docs/benchmarks.md). On tensorflow and torch, which pay for every op (a graph
executor, eager mode), plain sums are taken and the two-scale ones only in a branch taken when a sum is
out of range (`_runs_op_by_op`). A gradient is non-finite when one of its elements is NaN or ±Inf,
never because its squares overflow.
"""

import collections
import itertools
import math

import keras
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


# Gradients of one shape up to this many elements are measured together (see `_norms_by_gradient`).
_STACK_BELOW = 1 << 16

Measure = collections.namedtuple("Measure", ["norms", "global_norm", "finite", "units"], defaults=(None,))
Measure.__doc__ = """The norms of a list of gradients (`measure`, `measure_unitwise`).

Attributes:
    norms: float32 vector, the L2 norm of each gradient (0 for `None` or an empty one).
    global_norm: float32 scalar, (Σᵢ ‖gᵢ‖²)^½.
    finite: bool scalar, whether every element of every gradient is finite.
    units: `None` (`measure`), or (`measure_unitwise`) one entry per gradient: its unit-wise norms as
        `unitwise_norm` gives them, `None` for an absent or empty gradient.
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


def _scales(count):
    """The exponents `(a, b)` of the two scales 2⁻ᵃ and 2ᵇ for sums of `count` squares.

    With h = ⌈log₂(count) / 2⌉, a = 66 + h and b = 55 − 2h:

    - `count` squares of |x|·2⁻ᵃ (|x| < 2¹²⁸) sum below 2¹²⁴: that sum is finite for every finite x;
    - the sum at 2ᵇ overflows only when the norm is at least 2⁶⁴⁻ᵇ (2²⁷ ≈ 1.3e8 for a 784 × 300
      kernel, 2¹⁵ for 24 elements); the typical term of the sum at 2⁻ᵃ is then at least 2⁻¹¹⁴, 2¹²
      times the smallest normal float32 (XLA and tensorflow flush smaller ones to zero): what the
      flushed terms lose is below 1e-6 of a Gaussian gradient's norm;
    - by the same measure the sum at 2ᵇ is exact for a norm of at least √count·2⁻⁵⁷⁻ᵇ (2e-26 for the
      784 × 300 kernel, 3e-30 for a bias of 300, 2e-25 for a million elements); below that a norm
      may read smaller, and elements under 2⁻⁶³⁻ᵇ (8e-31 in the kernel) count as 0.

    Both are exact rescalings (powers of two): where neither sum overflows nor underflows, the norm is
    the plain sum's, bit for bit.
    """
    h = math.ceil(math.log2(max(count, 1)) / 2)
    return 66 + h, 55 - 2 * h


_Norms = collections.namedtuple("_Norms", ["norms", "squares", "finite"])


def _sums_at_two_scales(values, axes=None, shape=None, whole=False):
    """Σx² over `axes` (all by default) of |x|·2⁻ᵃ and |x|·2ᵇ, stacked on a new first axis, and `(a, b)`.

    `shape` bounds `values.shape` where it is unknown (a sparse gradient's rows: `_sparse.static_shape`);
    a sum over an unknown dimension counts as one of 2⁴⁰ squares. With `whole=True` the scales are set
    for the sum of all of `values` (so that the sums over `axes` can be added up further).

    One reduction: the two scales are a broadcast product, which XLA fuses into it (a stack of the two
    would be written out to memory first). Three scales (2⁻¹⁰⁰, 1, 2¹⁰⁰) also covered the norms below
    this range, down to denormals; the observer's jax train step measured 1.05× this one's with them
    (docs/benchmarks.md). |x|·|x| rather than x·x: on jax, XLA would share x·x with the inner
    optimizer's own square of the gradient and write it out to memory first.
    """
    axes = tuple(range(len(values.shape))) if axes is None else tuple(axes)
    shape = values.shape if shape is None else shape
    sizes = list(shape) if whole else [shape[axis] for axis in axes]
    a, b = _scales(2**40 if None in sizes else math.prod(sizes))
    scales = ops.reshape(ops.array([2.0**-a, 2.0**b]), (2,) + (1,) * len(values.shape))
    scaled = ops.expand_dims(ops.abs(values), 0) * scales
    sums = ops.sum(scaled * scaled, axis=tuple(axis + 1 for axis in axes)) if axes else scaled * scaled
    return sums, (a, b)


def _norms_from_sums(sums, a, b):
    """The `_Norms` of `_sums_at_two_scales`: the norms, the plain squared norms (exact where they
    neither overflow nor underflow: a global norm adds them up bit for bit as a plain sum would), and
    whether each is finite. `a` and `b` may be arrays (one pair per column of `sums`)."""
    a, b = ops.cast(a, "float32"), ops.cast(b, "float32")
    roots = ops.sqrt(sums)  # one square root of the two (XLA would keep two apart)
    # A NaN or ±Inf element makes both sums non-finite: the norm is then NaN or +Inf.
    norms = ops.where(ops.isfinite(sums[1]), roots[1] * 2.0**-b, roots[0] * 2.0**a)
    return _Norms(norms, sums[1] * 2.0 ** (-2 * b), ops.isfinite(sums[0]))


def measure(grads):
    """The `Measure` of `grads`: each gradient's norm, the global norm and whether all are finite."""
    present = [_has_elements(g) for g in grads]
    if not any(present):
        return Measure(ops.zeros((len(grads),)), ops.zeros(()), ops.ones((), dtype="bool"))
    if _runs_op_by_op():
        return _measure_with_branch(grads, present)
    return _measure_exact(grads, present)


def _runs_op_by_op():
    """Whether the backend pays for each op of the step (tensorflow's graph executor, torch's eager
    mode): there plain sums of squares, with the two-scale ones in a branch, are the fewest ops."""
    return keras.backend.backend() in ("tensorflow", "torch")


def _measure_with_branch(grads, present):
    """`measure` on tensorflow and torch: one plain sum of squares per gradient, the two-scale sums only
    in the branch of a `cond` taken when a sum overflowed or underflowed.

    TensorFlow's CPU executor pays a few microseconds per graph op whatever its size, and runs no op of
    a branch it does not take (torch's eager mode the same, for each op called): here the plain sums are
    the fewest ops (measured on tensorflow: 1.3x Keras's `global_clipnorm` per epoch with three scales,
    see docs/benchmarks.md; on torch the wrapper's `apply` took about half the time). XLA (jax, and
    tensorflow's `jit_compile=True`) compiles both branches and writes out what they read, which cost
    0.2x a step on jax: there the two scales in one reduction are the cheaper shape.
    """
    zero = ops.zeros(())
    squares = ops.stack(
        [ops.sum(ops.square(_values(g))) if p else zero for g, p in zip(grads, present, strict=True)]
    )
    total = ops.sum(squares)
    # An absent or empty gradient is 0 exactly; a present one may have lost squares to underflow.
    in_range = ops.logical_and(ops.isfinite(total), _sums_exact(squares, grads, present))

    def plain():
        return ops.sqrt(squares), ops.sqrt(total), ops.ones((), dtype="bool")

    def exact():
        measured = _measure_exact(grads, present)
        return measured.norms, measured.global_norm, measured.finite

    return Measure(*ops.cond(in_range, plain, exact))


def _measure_exact(grads, present):
    """`measure` from each gradient's sums at two scales (`_norms_by_gradient`)."""
    return _measure_from(_norms_by_gradient(grads, present))


def _measure_from(measured, units=None):
    """The `Measure` of the gradients' `_Norms`.

    The global norm is the square root of the sum of the plain squared norms where that sum lies
    between 1e-30 and float32's largest (then it is a plain sum's, bit for bit), `combined_norm` of the
    norms otherwise.
    """
    norms, squares, finite = measured
    total = ops.sum(squares)
    in_range = ops.logical_and(ops.isfinite(total), total >= _SMALLEST_SQUARE)
    return Measure(norms, ops.where(in_range, ops.sqrt(total), combined_norm(norms)), finite, units)


def measure_unitwise(grads, floor=0.0):
    """The `Measure` of `grads` with each gradient's unit-wise norms (`units`), in one pass over each.

    Each gradient's sums of squares are taken per output unit (as `unitwise_norm`), at the scales of
    the whole gradient, and added up over the units for its norm: AGC needs both, and with a second
    pass over the gradients for the norms alone its jax train step measured 1.10x this one's (book MLP,
    batch 32). A gradient's norm is then a sum in another order than `measure`'s: within 5e-7 of it
    (relative), its unit norms within 7e-7 of `unitwise_norm`'s, not bit for bit.

    `floor` (AGC's smallest limit, clipping · eps) says which unit norms need not be exact: on
    tensorflow and torch, where plain sums are taken as in `measure` and the two-scale ones only in a
    branch, a unit whose plain sum underflowed keeps the plain branch when its exact norm cannot exceed
    `floor` (it may then read lower, never above `floor`).
    """
    present = [_has_elements(g) for g in grads]
    if not any(present):
        return measure(grads)._replace(units=[None] * len(grads))
    if _runs_op_by_op():
        return _measure_unitwise_with_branch(grads, present, floor)
    return _measure_unitwise_exact(grads, present)


def _measure_unitwise_exact(grads, present):
    """`measure_unitwise` from each gradient's unit sums at two scales."""
    columns, exponents, units = [ops.zeros((2,))] * len(grads), [(0, 0)] * len(grads), [None] * len(grads)
    for index, (g, p) in enumerate(zip(grads, present, strict=True)):
        if not p:
            continue
        sums, exponents[index], units[index] = _unitwise(g, whole=True)
        columns[index] = sums if len(sums.shape) == 1 else ops.sum(sums, axis=1)
    return _measure_from(_norms_from_columns(columns, exponents), units)


def _measure_unitwise_with_branch(grads, present, floor):
    """`measure_unitwise` on tensorflow and torch: plain sums of squares per unit, the two-scale sums
    only in the branch of a `cond` taken when a sum is out of range (see `_measure_with_branch` and
    `_units_in_range`).

    The two-scale sums are three ops over a copy twice the gradient's size; on the book MLP, with them
    AGC cost 1.5x-1.8x Keras's `global_clipnorm` per epoch on tensorflow (docs/benchmarks.md). A unit
    of zeros (a dead ReLU unit) takes the plain branch when `floor` is above `_smallest_exact_sum`'s
    bound (~1e-14 for a unit of 784 elements; AGC's default floor is 1e-5), unless the whole gradient is
    zero.
    """
    zero = ops.zeros(())
    unit_sums = [_plain_unit_sums(g) if p else None for g, p in zip(grads, present, strict=True)]
    squares = ops.stack([zero if s is None else ops.sum(s) for s in unit_sums])
    total = ops.sum(squares)
    present_sums = [s for s in unit_sums if s is not None]
    present_grads = [g for g, p in zip(grads, present, strict=True) if p]
    in_range = ops.logical_and(
        _sums_exact(squares, grads, present), _units_in_range(present_sums, present_grads, floor, total)
    )

    def plain():
        units = [_unit_shaped(ops.sqrt(s), g) for g, s in zip(grads, unit_sums, strict=True) if s is not None]
        return ops.sqrt(squares), ops.sqrt(total), ops.ones((), dtype="bool"), units

    def exact():
        measured = _measure_unitwise_exact(grads, present)
        units = [u for u in measured.units if u is not None]
        return measured.norms, measured.global_norm, measured.finite, units

    norms, norm, finite, units = ops.cond(in_range, plain, exact)
    units = iter(units)
    return Measure(norms, norm, finite, [next(units) if p else None for p in present])


def _plain_unit_sums(x):
    """Σx² per output unit of `x` (a scalar for a bias or scalar), one plain float32 sum each."""
    x = _values(x)
    axes = tuple(range(len(x.shape) - 1)) if len(x.shape) > 1 else None
    return ops.sum(ops.square(x), axis=axes)


def _sums_exact(squares, grads, present):
    """Whether each present gradient's plain sum of squares (a vector, 0 where absent) is exact to ~1e-6
    of itself despite squares flushed to zero (`_smallest_exact_sum`): one bool scalar."""
    smallest = [_smallest_exact_sum(_count(g)) if p else 0.0 for g, p in zip(grads, present, strict=True)]
    return ops.all(squares >= ops.array(smallest))


def _units_in_range(sums, tensors, floor, total=None):
    """Whether the plain unit sums of `tensors` (`_plain_unit_sums`) give their unit norms as the exact
    ones would (to ~1e-6), up to norms that cannot exceed `floor`, as one bool scalar: the sums' `total`
    finite (every sum finite; an overflowed total only sends the step to the exact branch), and no sum
    below `_smallest_exact_sum`, where it may have lost squares to underflow. Such a sum misses at most
    2⁻¹²⁶ per element: where that cannot lift a norm above `floor`, only finiteness counts. One check
    for the whole list: on tensorflow and torch each op of it costs what a small sum does."""
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


def _norms_by_gradient(grads, present):
    """The `_Norms` of each gradient, as vectors (0 where absent), and whether all are finite.

    Dense gradients of one shape with at most `_STACK_BELOW` elements (the biases, the kernels of a
    stack of equal layers) are stacked and reduced together: each reduction has a fixed cost on CPU
    (a few microseconds) that the copy of a small gradient does not reach, and a deep network has
    hundreds of them. The norms are read from the sums of all the gradients at once, one small
    `(2, len(grads))` matrix, rather than gradient by gradient (each a few more small XLA fusions).
    """
    groups = {}
    for index, (g, p) in enumerate(zip(grads, present, strict=True)):
        if p:
            small = not _sparse.is_sparse(g) and math.prod(g.shape) <= _STACK_BELOW
            groups.setdefault(tuple(g.shape) if small else index, []).append(index)
    columns, exponents = [ops.zeros((2,))] * len(grads), [(0, 0)] * len(grads)
    for members in groups.values():
        if len(members) == 1:
            g = grads[members[0]]
            columns[members[0]], exponents[members[0]] = _sums_at_two_scales(
                _values(g), shape=_sparse.static_shape(g)
            )
            continue
        stacked = ops.stack([_values(grads[i]) for i in members])
        sums, pair = _sums_at_two_scales(stacked, tuple(range(1, len(stacked.shape))))
        for position, index in enumerate(members):
            columns[index], exponents[index] = sums[:, position], pair
    return _norms_from_columns(columns, exponents)


def _norms_from_columns(columns, exponents):
    """The `_Norms` of the gradients from their two-scale sums (one `(2,)` column each) and `(a, b)`s."""
    a, b = zip(*exponents, strict=True)
    norms, squares, finite = _norms_from_sums(ops.stack(columns, axis=1), ops.array(a), ops.array(b))
    return _Norms(norms, squares, ops.all(finite))


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


def unitwise_norm(x):
    """The L2 norm of each output unit of a weight or gradient, broadcastable against `x`.

    Keras stores kernels with the output units on the last axis (Dense `(in, out)`, Conv `(h, w, in,
    out)`), so a unit's norm is taken over all the other axes; a bias or scalar is one unit. Like
    `measure`, it never overflows for a finite `x` and is exact over the same range (`_scales`).
    """
    return _unitwise(x)[2]


def unitwise_norms(tensors, floor=0.0):
    """`unitwise_norm` of each tensor of a list, where norms that cannot exceed `floor` need not be
    exact (AGC's weights: a unit's norm counts as at least eps).

    On tensorflow and torch, plain sums of squares, with the two-scale ones (`unitwise_norm`) in one
    branch taken when a sum is out of range (`_units_in_range`), as in `measure_unitwise`.
    """
    if not _runs_op_by_op() or not tensors:
        return [unitwise_norm(x) for x in tensors]
    sums = [_plain_unit_sums(x) for x in tensors]
    return ops.cond(
        _units_in_range(sums, tensors, floor),
        lambda: [_unit_shaped(ops.sqrt(s), x) for x, s in zip(tensors, sums, strict=True)],
        lambda: [unitwise_norm(x) for x in tensors],
    )


def _unit_shaped(norms, x):
    """Unit norms (a vector, or a scalar for a bias or scalar) shaped as `unitwise_norm` gives them."""
    rank = len(_values(x).shape)
    return norms if rank <= 1 else ops.reshape(norms, (1,) * (rank - 1) + (norms.shape[-1],))


def _unitwise(x, whole=False):
    """`(sums, (a, b), norms)`: the two-scale sums of each unit of `x` (`(2,)` for a bias or scalar,
    `(2, units)` otherwise), their exponents, and the unit norms shaped as `unitwise_norm` gives them.
    `whole=True` sets the scales for the sum of all of `x` (see `_sums_at_two_scales`)."""
    shape, values = _sparse.static_shape(x), _values(x)
    axes = tuple(range(len(values.shape) - 1)) if len(values.shape) > 1 else None
    sums, (a, b) = _sums_at_two_scales(values, axes, shape, whole and axes is not None)
    return sums, (a, b), _unit_shaped(_norms_from_sums(sums, a, b).norms, x)


def adaptive_factors(grads, weights, clipping, eps, units=None):
    """AGC's factor for each unit of each present gradient, whether any unit is rescaled, and the norm.

    Returns `(factors, changed, clipped_norm)`: one factor tensor (broadcastable against its gradient)
    per gradient that is not `None`, in order, a boolean scalar, and the global norm of the clipped
    gradients (from the units' clipped norms: no second pass over the gradients). See `adaptive_clip`.
    `units` (one entry per gradient, as `measure_unitwise(grads).units`) gives the gradients' unit-wise
    norms when already measured.
    """
    if units is None:
        units = [None if g is None or not _has_elements(g) else unitwise_norm(g) for g in grads]
    measured = [(w, u) for g, w, u in zip(grads, weights, units, strict=True) if u is not None]
    if not measured:
        return [ops.ones(()) for g in grads if g is not None], ops.zeros((), dtype="bool"), ops.zeros(())
    # All units of all gradients at once, as one vector: a few ops in all, not a few per gradient.
    weight_norms = unitwise_norms([w for w, _ in measured], floor=eps)
    g_norm = ops.concatenate([ops.reshape(u, (-1,)) for _, u in measured])
    max_norm = clipping * ops.maximum(ops.concatenate([ops.reshape(n, (-1,)) for n in weight_norms]), eps)
    exceeds = g_norm > max_norm
    factor = ops.where(exceeds, max_norm / ops.maximum(g_norm, TINY), 1.0)
    # The clipped global norm from the units' clipped norms: no second pass over the gradients.
    clipped_norm = combined_norm(g_norm * factor)
    sizes = [math.prod(u.shape) for _, u in measured]
    pieces = ops.split(factor, list(itertools.accumulate(sizes))[:-1]) if len(sizes) > 1 else [factor]
    shaped = iter(ops.reshape(f, u.shape) for f, (_, u) in zip(pieces, measured, strict=True))
    factors = [
        ops.ones(()) if u is None else next(shaped)
        for g, u in zip(grads, units, strict=True)
        if g is not None
    ]
    return factors, ops.any(exceeds), clipped_norm


def apply_factors(grads, factors):
    """Multiplies each present gradient by its factor (`factors` as `adaptive_factors` gives them)."""
    factors = iter(factors)
    return [None if g is None else _scale([g], [next(factors)])[0] for g in grads]


def adaptive_clip(grads, weights, clipping, eps, return_changed=False):
    """Unit-wise adaptive gradient clipping (AGC), Brock et al. 2021, eq. (3).

    A unit's gradient `G` is rescaled to norm `λ · max(‖W‖, ε)` when its norm exceeds that, where `W`
    is the unit's weights, `λ = clipping` and `ε = eps`. With `return_changed=True`, also returns a
    boolean scalar: whether any unit was rescaled.
    """
    factors, changed, _ = adaptive_factors(grads, weights, clipping, eps)
    clipped = apply_factors(grads, factors)
    return (clipped, changed) if return_changed else clipped


def any_of(flags):
    """The logical or of boolean scalars (`False` for none)."""
    return ops.any(ops.stack(flags)) if flags else ops.zeros((), dtype="bool")


def percentile_of_sorted(ordered, count, percentile):
    """The `percentile`-th percentile (NumPy's linear method) of the `count` first, sorted, entries."""
    n = ops.minimum(count, ordered.shape[0])
    rank = ops.cast(n - 1, "float32") * (percentile / 100.0)
    low = ops.cast(ops.floor(rank), "int32")
    high = ops.minimum(low + 1, ops.cast(n - 1, "int32"))
    low_value, high_value = ops.take(ordered, low), ops.take(ordered, high)
    return low_value + (rank - ops.cast(low, "float32")) * (high_value - low_value)


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
