"""Load: 50,000 steps of a tiny model with `GradientClipping` + `GradientNormLogger` read every 100 steps.

Resident memory (VmRSS from `/proc/self/status`) and the number of variables are taken at checkpoints
(every `--checkpoint` steps, after the logger's read of that step): a statistic that created a variable
or a traced function per step or per read would show as a growing count or a steady climb of memory.
Counted: the model's weights, the optimizer's variables, and every `keras.Variable` alive in the process
(found by the garbage collector, so a leaked copy counts too). The first checkpoint comes after
tracing and the first reads; the growth is measured from it.

Command (a few minutes per backend on 2 cores):

    python benchmarks/load.py --backends tensorflow jax
"""

import argparse
import gc
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402

NAME = "load"
BATCH = 8


def rss_mib():
    """Resident memory of this process in MiB (Linux: VmRSS in `/proc/self/status`)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line in /proc/self/status")


def tiny_problem(steps_per_epoch):
    """`(x, y, model)`: `steps_per_epoch` batches of a linear target, and 4 → Dense(8, tanh) → Dense(1)
    compiled with `GradientClipping(SGD(0.01), "global_norm", 1.0)`."""
    import keras
    import numpy as np

    from keras_tricks.optimizers import GradientClipping

    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps_per_epoch * BATCH, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(loss="mse", optimizer=GradientClipping(keras.optimizers.SGD(0.01), "global_norm", 1.0))
    return x, y, model


def snapshot(model, step, reads):
    """One checkpoint: the step, resident memory, the model's and optimizer's variables, every
    `keras.Variable` alive in the process, and the logger's reads so far."""
    import keras

    gc.collect()
    with warnings.catch_warnings():  # isinstance on torch's deprecated module attributes warns
        warnings.simplefilter("ignore")
        live = sum(isinstance(o, keras.Variable) for o in gc.get_objects())
    return {
        "step": step,
        "rss_mib": round(rss_mib(), 2),
        "weights": len(model.weights),
        "optimizer_variables": len(model.optimizer.variables),
        "live_variables": live,
        "reads": reads,
    }


def checkpoint_recorder(steps_per_epoch, checkpoint):
    """A callback that counts the logger's reads (batches whose logs hold `grad_norm`), keeps the last
    read, and takes a `snapshot` every `checkpoint` steps in `rows`."""
    import keras

    class Checkpoints(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows, self.reads, self.epoch, self.last_logs = [], 0, 0, {}

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if "grad_norm" in (logs or {}):
                self.reads += 1
                self.last_logs = {k: float(v) for k, v in logs.items() if k.startswith("grad_")}
            step = self.epoch * steps_per_epoch + batch + 1
            if step % checkpoint == 0:
                self.rows.append(snapshot(self.model, step, self.reads))

    return Checkpoints()


def measure(steps=50_000, every=100, checkpoint=5_000, steps_per_epoch=1_000):
    """Trains `steps` steps and returns the checkpoints: `{"step", "rss_mib", "weights",
    "optimizer_variables", "live_variables", "reads"}` each, plus the logged statistics' last values."""
    from keras_tricks.callbacks import GradientNormLogger

    if steps % steps_per_epoch or checkpoint % every:
        raise ValueError(
            "Expected steps to be a multiple of steps_per_epoch and checkpoint of every. Received: "
            f"steps={steps}, steps_per_epoch={steps_per_epoch}, checkpoint={checkpoint}, every={every}"
        )
    gc.collect()  # what earlier work left unreachable must not vanish between two counts
    x, y, model = tiny_problem(steps_per_epoch)
    logger = GradientNormLogger(per_layer=True, every_n_steps=every)
    checkpoints = checkpoint_recorder(steps_per_epoch, checkpoint)
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=steps // steps_per_epoch,
        shuffle=False,
        verbose=0,
        callbacks=[logger, checkpoints],  # the logger first: the checkpoint sees its batch logs
    )
    return {"checkpoints": checkpoints.rows, "last_logs": checkpoints.last_logs}


def summarize(checkpoints):
    """First/last RSS, growth per 10,000 steps from the first checkpoint, variable counts (first, last)."""
    first, last = checkpoints[0], checkpoints[-1]
    span = last["step"] - first["step"]
    return {
        "rss_first_mib": first["rss_mib"],
        "rss_last_mib": last["rss_mib"],
        "rss_max_mib": max(c["rss_mib"] for c in checkpoints),
        "rss_growth_mib_per_10k_steps": (last["rss_mib"] - first["rss_mib"]) * 10_000 / span if span else 0.0,
        **{
            f"{key}_first_last": [first[key], last[key]]
            for key in ("weights", "optimizer_variables", "live_variables")
        },
        "reads": last["reads"],
    }


def _table(runs, args):
    lines = [
        f"# {NAME}",
        "",
        f"{args.steps} steps of a tiny model (4 → Dense(8) → Dense(1), batch {BATCH}) with "
        "`GradientClipping` "
        f"(global norm) + `GradientNormLogger(per_layer=True, every_n_steps={args.every})`; a checkpoint "
        f"every {args.checkpoint} steps.",
        "",
        "| backend | RSS first MiB | RSS last MiB | RSS max MiB | growth MiB / 10k steps | weights | "
        "optimizer variables | live keras.Variable | reads |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | --- | ---: |",
    ]
    for backend, run in runs.items():
        s = run["summary"]
        lines.append(
            f"| {backend} | {s['rss_first_mib']:.1f} | {s['rss_last_mib']:.1f} | {s['rss_max_mib']:.1f} "
            f"| {s['rss_growth_mib_per_10k_steps']:+.2f} | {s['weights_first_last']} "
            f"| {s['optimizer_variables_first_last']} | {s['live_variables_first_last']} | {s['reads']} |"
        )
    first = next(iter(runs.values()))
    lines += [
        "",
        "Counts as [first checkpoint, last checkpoint]; growth from the first checkpoint to the last.",
        f"Machine: {first['machine']}; keras {first['keras']}; command: `{first['command']}`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backends", nargs="+", default=["tensorflow", "jax"], choices=["tensorflow", "jax", "torch"]
    )
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--every", type=int, default=100, help="steps between the logger's reads")
    parser.add_argument("--checkpoint", type=int, default=5_000, help="steps between measurements")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import keras

        out = measure(args.steps, args.every, args.checkpoint)
        print(json.dumps({"keras": keras.__version__, "summary": summarize(out["checkpoints"]), **out}))
        return
    runs = harness.run_per_backend(NAME, args.backends, argv)
    harness.write_results(NAME, runs, _table(runs, args))


if __name__ == "__main__":
    main()
