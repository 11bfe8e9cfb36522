"""How fast AGC could be: its jax train step with the weights' unit-wise norms taken in other ways.

AGC (`GradientClipping("adaptive")`) clips each unit's gradient to a fraction of the unit's weight norm,
so it reads every weight once more than Keras's `global_clipnorm` does, and it takes each gradient's
norms unit by unit. To see what those cost, the weights' unit-wise norms are replaced, for this
measurement only, by cheaper ones that the package does not ship:

- plain float32 sums of squares (they overflow to `inf` once a unit's sum of squares passes float32's
  largest, ~3.4e38: a weight of ~1.8e19, or n weights of ~1.8e19/√n; AGC then stops clipping that
  unit. The shipped norms are exact over float32's range);
- none at all: every unit's weight norm taken as 1 (no longer AGC: a bound on what any way of taking
  the weights' norms could save).

jax's compiled train step alone, as in benchmarks/clipping_step.py (book MLP, Adam 1e-3, the logger
set up), the configurations interleaved round by round; each ratio against Keras's `global_clipnorm`.

Command (about 3 minutes):

    python benchmarks/agc_bound.py --backends jax --epochs 25
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import clipping_step, harness  # noqa: E402

KERAS = "Keras global_clipnorm=1"
SHIPPED = "GradientClipping adaptive + logger"


def _weight_norms(way):
    """`clipping.unitwise_norms` replaced for one configuration's trace (None: as shipped)."""
    from keras import ops

    from keras_tricks.optimizers import clipping

    shipped = clipping.unitwise_norms

    def sums(t):
        return clipping._plain_sums(t, clipping._unit_axes(t))

    def plain(tensors, floor=0.0):
        return [clipping._unit_shaped(ops.sqrt(sums(t)), t) for t in tensors]

    def ones(tensors, floor=0.0):
        return [clipping._unit_shaped(ops.ones(sums(t).shape), t) for t in tensors]

    return {None: shipped, "plain": plain, "ones": ones}[way]


CONFIGS = {  # row: (profile_clipping configuration, way of taking the weights' norms)
    KERAS: (KERAS, None),
    "GradientClipping global_norm + logger": ("GradientClipping global_norm + logger", None),
    SHIPPED: (SHIPPED, None),
    "adaptive, weights' unit norms as plain sums (inf past float32's largest sum)": (SHIPPED, "plain"),
    "adaptive without the weights' norms (each taken as 1: not AGC, a bound)": (SHIPPED, "ones"),
}


def make_configs(args):
    return clipping_step.replaced_configs(args, "unitwise_norms", _weight_norms, CONFIGS, KERAS)


if __name__ == "__main__":
    harness.main(
        "agc_bound",
        f"jax's compiled train step alone, {clipping_step.STEPS} steps per round on one batch (book MLP, "
        "Adam 1e-3), AGC with its weights' unit-wise norms taken in other ways; each against Keras's "
        "`global_clipnorm`.",
        make_configs,
    )
