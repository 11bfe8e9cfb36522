"""The compiled train step alone (jax): what observing and clipping add to one step, without `fit`'s loop.

An epoch of `fit` on the book's small MLP is about half host work on jax (the Python loop, data
slicing, callbacks), which dilutes and blurs the ratios of benchmarks/gradient_clipping.py. Here each
configuration's train step is jitted as `fit` compiles it and called `--steps` times per round on one
batch already on the device, the configurations interleaved round by round. Configurations and pairs
as in gradient_clipping.py (book MLP, Adam 1e-3), with `GradientNormLogger(per_layer=True)` set up by a
first epoch of `fit`; `--batch-size` as there.

Command (about 3 minutes):

    python benchmarks/clipping_step.py --backends jax --epochs 15
    python benchmarks/clipping_step.py --backends jax --epochs 15 --batch-size 128
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness, profile_clipping  # noqa: E402

STEPS = 200  # train steps per measured round

PAIRS = {  # configuration: the configuration its ratio is taken against
    "plain fit": None,
    "Keras global_clipnorm=1": "plain fit",
    "GradientClipping mode=None + logger": "plain fit",
    "GradientClipping mode=None, skip_nonfinite=True + logger": "plain fit",
    "GradientClipping global_norm + logger": "Keras global_clipnorm=1",
    "GradientClipping adaptive + logger": "Keras global_clipnorm=1",
    "GradientClipping percentile + logger": "Keras global_clipnorm=1",
}


def make_configs(args):
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("clipping_step.py measures jax's compiled step: run it with --backends jax")

    x, y = harness.fashion_mnist_subset(max(args.batch_size, 3200))
    timed = []
    for name, baseline in PAIRS.items():
        model, callbacks = profile_clipping.make(name)
        timed.append(
            harness.Timed(
                name,
                _rounds(*profile_clipping.jax_train_step(model, callbacks, x, y, args.batch_size)),
                baseline,
            )
        )
    return timed


def replaced_configs(args, attribute, replacement, configs, baseline):
    """Timed configurations with `keras_tricks.optimizers.clipping.<attribute>` replaced, for the timing
    only, by `replacement(way)` (agc_bound.py, measure_bound.py).

    `configs` maps a row to `(profile_clipping configuration, way)`; each row is timed against
    `baseline`. jax traces the step in the first epoch of `fit`, and the jit of `model.train_step` reused
    that trace when tried (a replacement made after `fit` was never called): the function is replaced
    from the model's making to the end of its step's first round, whichever trace is used.
    """
    import keras

    from keras_tricks.optimizers import clipping

    if keras.backend.backend() != "jax":
        raise SystemExit("this benchmark measures jax's compiled step: run it with --backends jax")
    x, y = harness.fashion_mnist_subset(max(args.batch_size, 3200))
    timed, shipped = [], getattr(clipping, attribute)
    for row, (name, way) in configs.items():
        setattr(clipping, attribute, replacement(way))
        try:
            model, callbacks = profile_clipping.make(name)
            run = _rounds(*profile_clipping.jax_train_step(model, callbacks, x, y, args.batch_size))
            run()
        finally:
            setattr(clipping, attribute, shipped)
        timed.append(harness.Timed(row, run, None if row == baseline else baseline))
    return timed


def _rounds(step, state, data):
    """One measured round: `STEPS` calls of the jitted step, carrying the (donated) state along."""
    import jax

    carried = [state]

    def run():
        state = carried[0]
        for _ in range(STEPS):
            _, state = step(state, data)
        carried[0] = jax.block_until_ready(state)

    return run


if __name__ == "__main__":
    harness.main(
        "clipping_step",
        f"jax's compiled train step alone, {STEPS} steps per round on one batch (book MLP, Adam 1e-3); "
        "each configuration against the one in its `against` column.",
        make_configs,
    )
