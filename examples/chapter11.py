"""The chapter-11 tour on the real Fashion-MNIST: each section's experiment, the book's number beside ours.

    python examples/chapter11.py                 # quick look: a data subset, few epochs (minutes)
    python examples/chapter11.py --full --seeds 3
    python examples/chapter11.py --sections data baseline --backend tensorflow

It writes `reproduction.md` (section | book | ours | verdict) and the figures into `--output`.

Each section is a `Section` declared by a script of its own (`python examples/batch_norm.py --full
--seeds 3` runs just that one) and listed in examples/sections.py, in the book's order;
examples/_common.py says what a section provides. In the quick mode the tour exits with status 1 if a
model that should learn stays below its sanity floor (CI's smoke test).
"""

import argparse
import os
import statistics
import sys
import time

from sections import SECTIONS

BACKENDS = ("jax", "tensorflow", "torch")
TOLERANCE = 0.015  # the acceptance: within 1.5 percentage points of the book


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="The chapter-11 tour on the real Fashion-MNIST.",
        epilog=f"Sections: {', '.join(SECTIONS)}.",
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
        help="sections to run (default: all)",
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
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}. Valid sections: {', '.join(SECTIONS)}")
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


def _verdict(args, section, book, values):
    numbers = isinstance(book, float) and all(isinstance(v, (int, float)) for v in values)
    if not numbers:
        return "measured"
    if not args.full:
        return "quick run: not comparable"
    difference = statistics.mean(values) - book
    if abs(difference) <= TOLERANCE:
        return f"within 1.5 pp ({100 * difference:+.1f} pp)"
    return f"{100 * difference:+.1f} pp: see docs/{section.page}"


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
        t0 = time.perf_counter()
        section, results, floors = SECTIONS[name], {}, {}
        settings = section.book if args.full else section.quick
        for seed in range(42, 42 + args.seeds):
            for row in section.run(args, seed, settings):
                what, book, ours, *floor = row
                results.setdefault((what, book), []).append(ours)
                floors[what] = floor[0] if floor else None
        for (what, book), values in results.items():
            print(f"- {name}: {what}: book {_book(book)}, ours {_format(values)}")
            table.append((name, what, _book(book), _format(values), _verdict(args, section, book, values)))
            floor = floors[what]
            if not args.full and floor is not None and min(values) < floor:
                below_floor.append(f"{name}: {what}: {min(values):.4f} < {floor}")
        print(f"  ({time.perf_counter() - t0:.0f} s)")
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
    figures = sorted(name for name in os.listdir(args.output) if name.endswith(".png"))
    print(f"\nTable written to {os.path.abspath(path)} ({time.perf_counter() - started:.0f} s in all).")
    if figures:
        print(f"Figures ({len(figures)} PNG) in {os.path.abspath(args.output)}: {', '.join(figures)}.")
    if below_floor:
        print("Below the quick run's sanity floor (the model did not learn):\n  " + "\n  ".join(below_floor))
        sys.exit(1)


if __name__ == "__main__":
    main()
