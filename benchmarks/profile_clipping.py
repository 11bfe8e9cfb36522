"""Where the time of a clipped or observed train step goes: jax's compiled program, tensorflow's profiler.

For the configurations of `benchmarks/gradient_clipping.py` (book MLP, Adam 1e-3, batch 32, default
compile settings):

- jax: the train step compiled by XLA (`jax.jit(model.train_step).lower(...).compile()`): how many
  fusions (each one loop over memory, and on XLA:CPU one dispatched thunk), reductions and
  conditionals it holds, and its instruction count (fused computations included);
- tensorflow: `tf.profiler` over one epoch of `fit`: the graph ops run per step and their CPU time per
  step, split by the name scope they come from (forward, gradient, optimizer, our wrapper).

Not a timing comparison (the ratios are benchmarks/gradient_clipping.py's); counts are exact, the
profiler's times are those of one profiled epoch.

Command (about 2 minutes):

    python benchmarks/profile_clipping.py

To compare with an older checkout, run this file there first (copy it, benchmarks/harness.py and
examples/book_models.py in if the checkout lacks them; its own keras_tricks is the one imported):

    python benchmarks/profile_clipping.py --backends jax --name profile_clipping-before --label 70d893e
    python benchmarks/profile_clipping.py --before benchmarks/results/profile_clipping-before.json
"""

import argparse
import collections
import glob
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402

CONFIGS = (
    "plain fit",
    "Keras global_clipnorm=1",
    "GradientClipping mode=None + logger",
    "GradientClipping global_norm + logger",
    "GradientClipping adaptive + logger",
    "GradientClipping percentile + logger",
)


def make(name):
    """The compiled model and callbacks of one configuration."""
    import keras

    from keras_tricks.callbacks import GradientNormLogger
    from keras_tricks.optimizers import GradientClipping

    def adam(**kwargs):
        return keras.optimizers.Adam(1e-3, **kwargs)

    optimizers = {
        "plain fit": adam,
        "Keras global_clipnorm=1": lambda: adam(global_clipnorm=1.0),
        "GradientClipping mode=None + logger": lambda: GradientClipping(adam(), mode=None),
        "GradientClipping mode=None, skip_nonfinite=True + logger": lambda: GradientClipping(
            adam(), mode=None, skip_nonfinite=True
        ),
        "GradientClipping global_norm + logger": lambda: GradientClipping(adam(), "global_norm", 1.0),
        "GradientClipping adaptive + logger": lambda: GradientClipping(adam(), "adaptive"),
        "GradientClipping percentile + logger": lambda: GradientClipping(adam(), "percentile"),
    }
    model = harness.compile_book(harness.book_mlp(), optimizers[name]())
    callbacks = [GradientNormLogger(per_layer=True)] if "logger" in name else []
    return model, callbacks


def jax_train_step(model, callbacks, x, y, batch_size=32):
    """Fits one epoch (building everything the callbacks set up), then returns `(step, state, data)`:
    `step(state, data) -> (logs, state)` is the model's train step jitted as `fit` compiles it (the
    state donated), `state` a copy of the model's."""
    import jax

    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, callbacks=callbacks)
    state = tuple(
        [jax.numpy.copy(v.value) for v in variables]
        for variables in (
            model.trainable_variables,
            model.non_trainable_variables,
            model.optimizer.variables,
            model.metrics_variables,
        )
    )
    data = (jax.numpy.asarray(x[:batch_size]), jax.numpy.asarray(y[:batch_size]))
    return jax.jit(model.train_step, donate_argnums=0), state, data


def _jax_counts(model, callbacks, x, y):
    step, state, data = jax_train_step(model, callbacks, x, y)
    # Without the comments: a tuple type of more than five elements carries `/*index=5*/` ones, whose `=`
    # hid the instruction (a `conditional` or `tuple` of many arrays) from the pattern below.
    text = re.sub(r"/\*.*?\*/", "", step.lower(state, data).compile().as_text())
    # Fusion calls sit in the entry computation and in the branches of conditionals; the fused
    # computations themselves hold the elementwise ops and reductions.
    kinds = collections.Counter(re.findall(r"= [^=]*? ([a-z][\w-]*)\(", text))
    return {
        "fusions": kinds["fusion"],
        "reductions": kinds["reduce"],
        "conditionals": kinds["conditional"],
        "instructions": sum(kinds.values()),
    }


def _scope(op_name):
    """Where an op of Keras's train function comes from, read from its name scope."""
    path = "/" + op_name.split(":")[0]
    if "/gradient_tape/" in path:
        return "backward"
    if "/adam/" in path or "/adam_" in path:
        return "Adam update (Keras's clipping included)"
    if "/compile_loss/" in path or "/compile_metrics/" in path:
        return "loss and metrics"
    if "/sequential" in path or "/functional" in path:
        return "forward"
    return "GradientClipping's own"


def _tensorflow_profile(model, callbacks, x, y):
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=callbacks)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=callbacks)
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        (path,) = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
    counts, times = collections.Counter(), collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if name.startswith("StatefulPartitionedCall/") and ":" in name:
                    counts[name] += 1
                    times[_scope(name)] += event.duration_ps / 1e6  # µs
    # The profiler may miss events: the steps are those of the op seen most often, the ops of a step
    # those that ran in at least half of them (an untaken branch's ops never run).
    steps = max(counts.values())
    return {
        "ops_per_step": sum(1 for c in counts.values() if c >= steps / 2),
        "op_us_per_step": round(sum(times.values()) / steps, 1),
        "us_per_step_by_scope": {scope: round(t / steps, 1) for scope, t in times.most_common()},
    }


def _child(backend):
    import keras

    x, y = harness.fashion_mnist_subset(3200)
    results = {}
    for name in CONFIGS:
        keras.utils.clear_session()
        model, callbacks = make(name)
        measure = _jax_counts if backend == "jax" else _tensorflow_profile
        results[name] = measure(model, callbacks, x, y)
    print(json.dumps({"keras": keras.__version__, "results": results}))


def _markdown(runs, before=None):
    """The tables; with `before` (the runs of an older checkout), each count as `before → now`."""

    def cell(backend, name, key):
        now = runs[backend]["results"][name][key]
        old = (before or {}).get(backend, {}).get("results", {}).get(name, {}).get(key)
        return f"{old} → {now}" if old is not None and old != now else str(now)

    lines = ["# profile_clipping", ""]
    if "jax" in runs:
        lines += [
            "jax: the compiled train step (batch 32)"
            + (f"; before → now, before = {before['jax']['label']}." if before and "jax" in before else "."),
            "",
            "| configuration | fusions | reductions | conditionals | instructions |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name in runs["jax"]["results"]:
            cells = [
                cell("jax", name, key) for key in ("fusions", "reductions", "conditionals", "instructions")
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    if "tensorflow" in runs:
        scopes = sorted(
            {s for r in runs["tensorflow"]["results"].values() for s in r["us_per_step_by_scope"]},
        )
        lines += [
            "tensorflow: graph ops run in a step and their CPU time per step, by name scope (µs; one "
            "profiled epoch of 100 steps; the times include the profiler's own cost per op).",
            "",
            "| configuration | ops per step | op time per step | " + " | ".join(scopes) + " |",
            "| --- | ---: | ---: | " + " | ".join("---:" for _ in scopes) + " |",
        ]
        for name, r in runs["tensorflow"]["results"].items():
            by_scope = [str(r["us_per_step_by_scope"].get(s, 0.0)) for s in scopes]
            lines.append(
                f"| {name} | {r['ops_per_step']} | {r['op_us_per_step']} | " + " | ".join(by_scope) + " |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["jax", "tensorflow"], choices=["jax", "tensorflow"])
    parser.add_argument("--name", default="profile_clipping", help="results/<name>.json and .md")
    parser.add_argument(
        "--before", help="results JSON of an older checkout's run (--name profile_clipping-before) to compare"
    )
    parser.add_argument("--label", help="what this checkout is, for a later --before (e.g. a commit)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child)
        return
    runs = harness.run_per_backend(args.name, args.backends, argv)
    for run in runs.values():
        run["label"] = args.label
    before = None
    if args.before:
        with open(args.before) as f:
            before = json.load(f)
    harness.write_results(args.name, runs, _markdown(runs, before))


if __name__ == "__main__":
    main()
