"""What the exact measure costs on jax: the compiled train step with the gradients' norms taken other ways.

`GradientClipping` measures each gradient's norm with a plain sum of squares where that is exact, and
with the norm scaled by the gradient's largest element, in the other branch of a `cond`, where it is
not (`keras_tricks.optimizers.clipping.measure`). To see what the `cond` costs, the measure is replaced,
for this measurement only, by ways the package does not ship:

- plain sums only, no `cond` (not exact: `inf` past ~1.8e19 per element, 0 below ~1e-19): a bound on
  what any exact way of measuring could save;
- the scaled norms always, no `cond` (exact; two passes over each gradient, its largest element then
  its sum).

jax's compiled train step alone, as in benchmarks/clipping_step.py (book MLP, Adam 1e-3, the logger set
up), the configurations interleaved round by round; each ratio against Keras's `global_clipnorm`.

Command (about 2 minutes):

    python benchmarks/measure_bound.py --backends jax --epochs 25
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import clipping_step, harness  # noqa: E402

KERAS = "Keras global_clipnorm=1"
GLOBAL = "GradientClipping global_norm + logger"
OBSERVE = "GradientClipping mode=None + logger"


def _measure(way):
    """`clipping.measure` replaced for one configuration's trace (None: as shipped)."""
    from keras import ops

    from keras_tricks.optimizers import clipping

    shipped = clipping.measure

    def present(grads):
        return [clipping._has_elements(g) for g in grads]

    def plain(grads):
        zero = ops.zeros(())
        sums = [clipping._plain_sums(g) if p else zero for g, p in zip(grads, present(grads), strict=True)]
        squares = ops.stack(sums)
        return clipping.Measure(ops.sqrt(squares), ops.sqrt(ops.sum(squares)), ops.ones((), dtype="bool"))

    def scaled(grads):
        norms, finite = clipping._exact_norms(grads, present(grads))
        return clipping.Measure(norms, clipping.combined_norm(norms), finite)

    return {None: shipped, "plain": plain, "scaled": scaled}[way]


CONFIGS = {  # row: (profile_clipping configuration, way of measuring)
    KERAS: (KERAS, None),
    GLOBAL: (GLOBAL, None),
    "global_norm, plain sums only (not exact: a bound)": (GLOBAL, "plain"),
    "global_norm, scaled norms always (exact, no cond)": (GLOBAL, "scaled"),
    OBSERVE: (OBSERVE, None),
    "observe, plain sums only (not exact: a bound)": (OBSERVE, "plain"),
    "observe, scaled norms always (exact, no cond)": (OBSERVE, "scaled"),
}


def make_configs(args):
    return clipping_step.replaced_configs(args, "measure", _measure, CONFIGS, KERAS)


if __name__ == "__main__":
    harness.main(
        "measure_bound",
        f"jax's compiled train step alone, {clipping_step.STEPS} steps per round on one batch (book MLP, "
        "Adam 1e-3), the gradients' norms taken in other ways; each against Keras's `global_clipnorm`.",
        make_configs,
    )
