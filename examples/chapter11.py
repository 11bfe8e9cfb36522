"""The chapter-11 tour on the real Fashion-MNIST: each section's experiment, the book's number beside ours.

    python examples/chapter11.py                 # quick look: a data subset, few epochs (minutes)
    python examples/chapter11.py --full --seeds 3
    python examples/chapter11.py --sections data baseline --backend tensorflow

It writes `reproduction.md` (section | book | ours | verdict) and the figures into `--output`.

Each section is a script of its own (`python examples/batch_norm.py --full --seeds 3` runs just that
one); examples/_common.py says what a section script provides. In the quick mode the tour exits with
status 1 if a model that should learn stays below its sanity floor (CI's smoke test).
"""

import argparse
import importlib
import os
import statistics
import sys
import time

BACKENDS = ("jax", "tensorflow", "torch")

# Sections in the book's order, each run by a script in examples/ (`run(args, seed)` -> rows; see
# examples/_common.py). A section whose script is not there yet is listed as to come.
SCRIPTS = {
    "initialization": "initialization",
    "activations": "activations",
    "batch-norm": "batch_norm",
    "gradient-clipping": "gradient_clipping",
    "transfer": "transfer_learning",
    "optimizers": "optimizers",
    "schedules": "schedules",
    "regularization": "regularization",
    "recipes": "recipes",
    "lr-decay": "lr_decay",
}
HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = 0.015  # the acceptance: within 1.5 percentage points of the book


def _script_runs(name):
    path = os.path.join(HERE, SCRIPTS[name] + ".py")
    return os.path.exists(path) and "\ndef run(" in open(path).read()


def _data(args, seed):
    from keras_tricks.datasets import load_fashion_mnist

    (x_train, _), (x_valid, _), (x_test, _) = load_fashion_mnist()
    return [
        (
            "train / validation / test images",
            "55,000 / 5,000 / 10,000",
            f"{len(x_train):,} / {len(x_valid):,} / {len(x_test):,}",
        ),
    ]


def _baseline(args, seed):
    """Chapter 10's MLP (300-100 ReLU, SGD) that chapter 11 sets out to improve."""
    import keras

    from keras_tricks.datasets import load_fashion_mnist

    (x_train, y_train), (x_valid, y_valid), _ = load_fashion_mnist()
    samples, epochs = (None, 30) if args.full else (10_000, 3)
    x_train, y_train = x_train[:samples], y_train[:samples]
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(300, activation="relu"),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(0.01), metrics=["accuracy"]
    )
    history = model.fit(x_train, y_train, epochs=epochs, validation_data=(x_valid, y_valid), verbose=0)
    accuracy = history.history["val_accuracy"][-1]
    return [
        (
            f"chapter 10 MLP, SGD, {epochs} epochs on {len(x_train):,} images: validation accuracy",
            None,
            accuracy,
            0.6,  # sanity floor of the quick run
        )
    ]


def _section(name):
    """The section's `run(args, seed)`."""
    if name in BUILT_IN:
        return BUILT_IN[name]
    sys.path.insert(0, HERE)
    return importlib.import_module(SCRIPTS[name]).run


BUILT_IN = {"data": _data, "baseline": _baseline}
SECTIONS = [*BUILT_IN, *(name for name in SCRIPTS if _script_runs(name))]
TO_COME = [name for name in SCRIPTS if name not in SECTIONS]
ALL_SECTIONS = [*BUILT_IN, *SCRIPTS]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="The chapter-11 tour on the real Fashion-MNIST.",
        epilog=f"Sections: {', '.join(ALL_SECTIONS)}.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a first look: data subset, few epochs (default)"
    )
    parser.add_argument("--full", action="store_true", help="the book's epochs on the whole training set")
    parser.add_argument(
        "--seeds", type=int, default=1, help="seeds per comparison (>= 1; use >= 3 with --full)"
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        default=list(SECTIONS),
        metavar="SECTION",
        help="sections to run (default: all that exist)",
    )
    parser.add_argument(
        "--backend",
        default=os.environ.get("KERAS_BACKEND") or "jax",
        help=f"Keras backend, one of {', '.join(BACKENDS)} (default: $KERAS_BACKEND if set, else jax)",
    )
    parser.add_argument("--output", default="output", help="folder for reproduction.md and the figures")
    args = parser.parse_args(argv)
    if args.quick and args.full:
        parser.error("choose --quick or --full, not both")
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1. Received: --seeds {args.seeds}")
    unknown = [s for s in args.sections if s not in ALL_SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}. Valid sections: {', '.join(ALL_SECTIONS)}")
    if args.backend not in BACKENDS:
        parser.error(f"unknown backend {args.backend!r}. Valid backends: {', '.join(BACKENDS)}")
    return args


def _format(values):
    if not isinstance(values[0], (int, float)):  # text (e.g. "3.10 / 3.10"): no mean to take
        return str(values[0]) + (" (first seed)" if len({str(value) for value in values}) > 1 else "")
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} ({len(values)} seeds)"


def _book(book):
    if book is None:
        return "—"
    return f"{book:.4f}" if isinstance(book, float) else str(book)


def _verdict(args, name, book, values):
    numbers = isinstance(book, float) and all(isinstance(v, (int, float)) for v in values)
    if not numbers:
        return "measured"
    if not args.full:
        return "quick run: not comparable"
    difference = statistics.mean(values) - book
    if abs(difference) <= TOLERANCE:
        return f"within 1.5 pp ({100 * difference:+.1f} pp)"
    page = getattr(sys.modules.get(SCRIPTS.get(name, "")), "PAGE", "chapter11.md")
    return f"{100 * difference:+.1f} pp: see docs/{page}"


def main(argv=None):
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend  # before Keras is imported
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    os.makedirs(args.output, exist_ok=True)
    mode = "full" if args.full else "quick"
    print(f"keras-tricks chapter-11 tour ({mode}, backend {keras.backend.backend()}, {args.seeds} seed(s))")
    table, below_floor, started = [], [], time.perf_counter()
    for name in args.sections:
        if name in TO_COME:
            print(f"- {name}: to come (issue #7)")
            table.append((name, "—", "—", "—", "to come (issue #7)"))
            continue
        t0 = time.perf_counter()
        run, results, floors = _section(name), {}, {}
        for seed in range(42, 42 + args.seeds):
            for row in run(args, seed):
                what, book, ours, *floor = row
                results.setdefault((what, book), []).append(ours)
                floors[what] = floor[0] if floor else None
        for (what, book), values in results.items():
            print(f"- {name}: {what}: book {_book(book)}, ours {_format(values)}")
            table.append((name, what, _book(book), _format(values), _verdict(args, name, book, values)))
            floor = floors[what]
            if not args.full and floor is not None and min(values) < floor:
                below_floor.append(f"{name}: {what}: {min(values):.4f} < {floor}")
        print(f"  ({time.perf_counter() - t0:.0f} s)")
    not_yet = [name for name in TO_COME if name not in args.sections]
    path = os.path.join(args.output, "reproduction.md")
    command = " ".join(["python examples/chapter11.py", *(argv if argv is not None else sys.argv[1:])])
    with open(path, "w") as f:
        f.write(f"# Chapter 11 reproduced ({mode} run)\n\n")
        f.write(
            f"Command: `{command}`; "
            f"keras {keras.__version__}, backend {keras.backend.backend()}, "
            f"{time.strftime('%Y-%m-%d')}, {time.perf_counter() - started:.0f} s.\n\n"
        )
        f.write("| section | what | book | ours | verdict |\n| --- | --- | --- | --- | --- |\n")
        for row in table:
            f.write("| " + " | ".join(str(cell) for cell in row) + " |\n")
        if not_yet:
            f.write(f"\nSections still to come: {', '.join(not_yet)}.\n")
    figures = sorted(name for name in os.listdir(args.output) if name.endswith(".png"))
    print(f"\nTable written to {os.path.abspath(path)} ({time.perf_counter() - started:.0f} s in all).")
    if figures:
        print(f"Figures ({len(figures)} PNG) in {os.path.abspath(args.output)}: {', '.join(figures)}.")
    if not_yet:
        print(f"Sections still to come (not run): {', '.join(not_yet)}.")
    if below_floor:
        print("Below the quick run's sanity floor (the model did not learn):\n  " + "\n  ".join(below_floor))
        sys.exit(1)


if __name__ == "__main__":
    main()
