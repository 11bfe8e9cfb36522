"""The benchmark harness: training configurations compared as ratios, interleaved in one process.

Machines here are shared and noisy, so a benchmark never reports an absolute time alone:

- every configuration is built and compiled once, then trained one epoch at a time in turn
  (A, B, A, B, ...), so slow phases of the machine hit all of them alike;
- the first `warmup` epochs of each are dropped (tracing, compilation, caches);
- each round gives a ratio per configuration against the baseline of the *same* round, and the
  reported ratio is the median over rounds; CPU time of the process (all threads) is the primary
  measure, as it is steadier than wall time on a shared machine; wall time is reported too.

A benchmark script defines its configurations and calls `main`; `main` runs one child process per
backend (the backend is fixed when Keras is imported) and writes `results/<name>.json` and
`results/<name>.md`. See `lr_callback.py` for an example.
"""

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


@dataclasses.dataclass
class Config:
    """One training configuration.

    Args:
        name: str. Row label.
        build: callable returning a compiled `keras.Model`.
        callbacks: callable returning the list of callbacks for one `fit` call.
        batch_size: int. Defaults to 32 (the book's).
        baseline: str. Name of the configuration this one's ratios are taken against (so one run can
            hold several comparisons, e.g. one per `steps_per_execution` setting). Defaults to `None`
            (the first configuration).
    """

    name: str
    build: object
    callbacks: object = list
    batch_size: int = 32
    baseline: str = None


def book_mlp(seed=42, activation="relu", initializer="he_normal"):
    """The book's Fashion-MNIST MLP of the learning-rate section: 3 × Dense(100) + softmax.

    Defined once, in examples/book_models.py (the examples, the benchmarks and the tests build the same
    model); a benchmark runs from the repository's root, where examples/ is importable as `examples`."""
    from examples.book_models import build_model

    return build_model(seed, activation=activation, initializer=initializer)


def compile_book(model, optimizer, **compile_kwargs):
    """Compiles `model` as the book does (sparse categorical cross-entropy, accuracy); returns it."""
    model.compile(
        loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"], **compile_kwargs
    )
    return model


def book_mlp_builder(make_optimizer=None, **compile_kwargs):
    """A `Config.build`: `book_mlp()` compiled by `compile_book` with `make_optimizer()` (a new optimizer per
    build; default: SGD at 0.01) and `compile_kwargs` (`steps_per_execution`, `jit_compile`, ...)."""

    def build():
        import keras

        model = book_mlp()
        optimizer = keras.optimizers.SGD(learning_rate=0.01) if make_optimizer is None else make_optimizer()
        return compile_book(model, optimizer, **compile_kwargs)

    return build


def fashion_mnist_subset(samples):
    """The first `samples` training images of the book's split, pixels in [0, 1]."""
    from keras_tricks.datasets import load_fashion_mnist

    (x_train, y_train), _, _ = load_fashion_mnist()
    return x_train[:samples], y_train[:samples]


def _epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._cpu, self._wall = time.process_time(), time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.cpu = time.process_time() - self._cpu
            self.wall = time.perf_counter() - self._wall

    return EpochTimer()


def compare(configs, x, y, epochs=5, warmup=1, whole_fit=False):
    """Trains each configuration for `warmup + epochs` epochs, interleaved; returns timings and ratios.

    The first configuration is the baseline. Returns a dict with, per configuration, the per-epoch CPU
    and wall seconds after warm-up, and the median over rounds of the ratio to the baseline's epoch of
    the same round. An epoch is timed from `on_epoch_begin` to `on_epoch_end`; with `whole_fit=True`,
    the whole one-epoch `fit` call (what callbacks do in `on_train_begin`/`on_train_end` included).
    """
    if epochs < 1 or warmup < 0:
        raise ValueError(f"Expected epochs >= 1 and warmup >= 0. Received: epochs={epochs}, warmup={warmup}")
    models = [config.build() for config in configs]
    times = {config.name: {"cpu_s": [], "wall_s": []} for config in configs}
    for round_index in range(warmup + epochs):
        for config, model in zip(configs, models, strict=True):
            timer = _epoch_timer()
            cpu, wall = time.process_time(), time.perf_counter()
            model.fit(
                x,
                y,
                batch_size=config.batch_size,
                epochs=1,
                verbose=0,
                callbacks=[*config.callbacks(), timer],
            )
            if whole_fit:
                timer.cpu, timer.wall = time.process_time() - cpu, time.perf_counter() - wall
            if round_index >= warmup:
                times[config.name]["cpu_s"].append(timer.cpu)
                times[config.name]["wall_s"].append(timer.wall)
    return _ratios(times, {config.name: config.baseline for config in configs})


@dataclasses.dataclass
class Timed:
    """One timed piece of work, for benchmarks that are not a `fit` (prediction, a utility function).

    Args:
        name: str. Row label.
        run: callable with no arguments; one call is one measured round. Build and compile outside it.
        baseline: str. Name of the callable this one's ratios are taken against. Defaults to `None`
            (the first).
    """

    name: str
    run: object
    baseline: str = None


def compare_callables(callables, rounds=5, warmup=1):
    """Calls each `Timed` `warmup + rounds` times, interleaved; returns timings and ratios.

    The same measure as `compare`, with one call of `run` in place of one epoch: the ratios are
    medians over rounds of the per-round ratio to the baseline.
    """
    if rounds < 1 or warmup < 0:
        raise ValueError(f"Expected rounds >= 1 and warmup >= 0. Received: rounds={rounds}, warmup={warmup}")
    times = {c.name: {"cpu_s": [], "wall_s": []} for c in callables}
    for round_index in range(warmup + rounds):
        for c in callables:
            cpu, wall = time.process_time(), time.perf_counter()
            c.run()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            if round_index >= warmup:
                times[c.name]["cpu_s"].append(cpu)
                times[c.name]["wall_s"].append(wall)
    return _ratios(times, {c.name: c.baseline for c in callables})


def median_spread(ratios, resamples=2000):
    """How far the median of `ratios` could move: the 5th and 95th percentiles of the medians of
    `resamples` bootstrap resamples (a fixed seed, so a table is reproducible from its JSON)."""
    import numpy as np

    ratios = np.asarray(ratios, dtype="float64")
    if len(ratios) < 2:
        return [float(ratios[0])] * 2
    draws = np.random.default_rng(0).choice(ratios, size=(resamples, len(ratios)))
    low, high = np.percentile(np.median(draws, axis=1), [5, 95])
    return [float(low), float(high)]


def _ratios(times, baselines):
    """Per configuration: its times, its baseline's name, the median per-round ratio to the baseline's
    time and the median times. `baselines` maps a name to its baseline's (`None`: the first)."""
    names = list(times)
    results = {}
    for name, own in times.items():
        baseline_name = baselines.get(name) or names[0]
        if baseline_name not in times:
            raise ValueError(
                f"Expected baseline to name a configuration of {names}. Received: {baseline_name!r}"
            )
        baseline = times[baseline_name]
        cpu = [a / b for a, b in zip(own["cpu_s"], baseline["cpu_s"], strict=True)]
        wall = [a / b for a, b in zip(own["wall_s"], baseline["wall_s"], strict=True)]
        results[name] = {
            **own,
            "baseline": baseline_name,
            "cpu_ratio": statistics.median(cpu),
            "cpu_ratio_spread": median_spread(cpu),
            "wall_ratio": statistics.median(wall),
            "median_cpu_s": statistics.median(own["cpu_s"]),
            "median_wall_s": statistics.median(own["wall_s"]),
        }
    return results


def _markdown(name, description, runs):
    first = next(iter(runs.values()))
    unit = first.get("unit", "epoch")
    lines = [
        f"# {name}",
        "",
        description,
        "",
        "| backend | configuration | against | CPU-time ratio | its 90% interval | wall-time ratio "
        f"| median CPU s/{unit} | median wall s/{unit} |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend, run in runs.items():
        for config_name, row in run["results"].items():
            against = row.get("baseline", next(iter(run["results"])))
            against = "—" if against == config_name else against
            low, high = row.get("cpu_ratio_spread", (row["cpu_ratio"], row["cpu_ratio"]))
            lines.append(
                f"| {backend} | {config_name} | {against} | {row['cpu_ratio']:.3f} | {low:.3f}–{high:.3f} "
                f"| {row['wall_ratio']:.3f} | {row['median_cpu_s']:.3f} | {row['median_wall_s']:.3f} |"
            )
    lines += [
        "",
        f"Ratios: median over {first['epochs']} interleaved rounds"
        + (f" of {first['samples']} images each" if unit == "epoch" else "")
        + f", after {first['warmup']} warm-up {unit}(s), "
        f"each against the {unit} of the same round of the configuration in the `against` column; "
        "the interval is where the median CPU-time ratio lies in 90% of bootstrap resamples of the rounds.",
        f"Machine: {first['machine']}; keras {first['keras']}; command: `{first['command']}`.",
    ]
    return "\n".join(lines) + "\n"


def main(name, description, make_configs, argv=None, whole_fit=False):
    """Command-line entry point of a benchmark script.

    Args:
        name: str. Results go to `benchmarks/results/<name>.json` and `.md`.
        description: str. One paragraph for the markdown table.
        make_configs: callable `(args) -> (configs, x, y)`, called in the child process of each backend;
            or `(args) -> [Timed, ...]` to time calls rather than `fit` epochs (`--epochs` is then
            the number of measured rounds).
        argv: list of str. Defaults to `sys.argv[1:]`.
        whole_fit: bool. Time each one-epoch `fit` call whole rather than from `on_epoch_begin` to
            `on_epoch_end` (see `compare`). Defaults to `False`.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--backends", nargs="+", default=["tensorflow", "jax"], choices=["tensorflow", "jax", "torch"]
    )
    parser.add_argument("--epochs", type=int, default=7, help="measured epochs per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="epochs dropped per configuration")
    parser.add_argument("--samples", type=int, default=16000, help="training images per epoch")
    parser.add_argument(
        "--batch-size", type=int, default=32, help="batch size (scripts that honour it; results/<name>-b<n>)"
    )
    parser.add_argument("--tag", help="results/<name>-<tag> (e.g. a run of one backend with other settings)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.warmup < 0 or args.samples < 1 or args.batch_size < 1:
        parser.error(
            f"--epochs, --samples and --batch-size must be >= 1 and --warmup >= 0; received {vars(args)}"
        )

    if args.child:  # inside one backend's process: measure and print JSON
        import keras

        made = make_configs(args)
        if isinstance(made, list) and all(isinstance(c, Timed) for c in made):
            results = compare_callables(made, rounds=args.epochs, warmup=args.warmup)
            unit = "round"
        else:
            configs, x, y = made
            results = compare(configs, x, y, epochs=args.epochs, warmup=args.warmup, whole_fit=whole_fit)
            unit = "epoch"
        print(json.dumps({"keras": keras.__version__, "unit": unit, "results": results}))
        return

    if args.batch_size != 32:
        name = f"{name}-b{args.batch_size}"
    if args.tag:
        name = f"{name}-{args.tag}"
    runs = run_per_backend(name, args.backends, argv)
    for run in runs.values():
        run.update(epochs=args.epochs, warmup=args.warmup, samples=args.samples)
    write_results(name, runs, _markdown(name, description, runs))


def run_per_backend(name, backends, argv=None):
    """Runs the calling script once per backend, in a child process with `--child BACKEND` appended
    to `argv` (the backend is fixed when Keras is imported); the child prints one JSON line.

    Returns `{backend: that JSON object}`, each with the command, machine and date added.
    """
    argv = list(argv if argv is not None else sys.argv[1:])
    command = "python " + " ".join([os.path.relpath(sys.argv[0]), *argv])
    runs = {}
    for backend in backends:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        child_argv = [sys.executable, sys.argv[0], *argv, "--child", backend]
        print(f"[{name}] measuring on {backend} ...", file=sys.stderr, flush=True)
        out = subprocess.run(child_argv, env=env, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            sys.exit(f"[{name}] the {backend} run failed:\n{out.stderr[-3000:]}")
        run = json.loads(out.stdout.strip().splitlines()[-1])
        run.update(
            command=command,
            machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            date=time.strftime("%Y-%m-%d"),
        )
        runs[backend] = run
    return runs


def write_results(name, runs, table):
    """Writes `results/<name>.json` (the runs) and `results/<name>.md` (the table), and prints the table."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, f"{name}.json"), "w") as f:
        json.dump(runs, f, indent=2)
    with open(os.path.join(RESULTS_DIR, f"{name}.md"), "w") as f:
        f.write(table)
    print(table)
