"""Which rule of `find_learning_rate` to trust: each rule's suggestion on the book's MLP, by data size.

The book's Fashion-MNIST MLP (3 × Dense(100), ReLU, He; SGD), the finder's defaults (1e-7 → 10 over 100
steps, the data cycled) at batch 128, 5 seeds (the weights and the batch order), on 2,000, 10,000 and
55,000 training images, on each backend. A rule is robust when its suggestion on 2,000 images is within
a factor 3 of its suggestion on the full 55,000, for every seed, and when it lands in [0.03, 0.3] (the
book reads about 0.1 off its plot for this setup). The table gives, per rule and size, the median
suggestion over the seeds and its range; then the checks.

Command (about 4 minutes per backend on 2 cores):

    python benchmarks/lr_finder_rules.py --backends tensorflow jax torch
"""

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402

SIZES = (2_000, 10_000, 55_000)
SEEDS = (0, 1, 2, 3, 4)
BAND = (0.03, 0.3)


def measure(seeds, sizes):
    import keras

    import keras_tricks

    x_all, y_all = harness.fashion_mnist_subset(max(sizes))
    out = {}
    for size in sizes:
        for seed in seeds:
            model = harness.book_mlp(seed=42 + seed)
            model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD())
            result = keras_tricks.find_learning_rate(
                model, x_all[:size], y_all[:size], batch_size=128, seed=seed
            )
            out[f"{size}/{seed}"] = {"suggestions": result.suggestions, "warnings": result.warnings}
    return out


def checks(run, rules):
    """Per rule: the worst ratio of a small-data suggestion to the full-data one; how many in the band."""
    sizes = sorted({int(key.split("/")[0]) for key in run["suggestions"]})
    small, full = sizes[0], sizes[-1]
    seeds = sorted({int(key.split("/")[1]) for key in run["suggestions"]})
    result = {}
    for rule in rules:
        full_median = statistics.median(run["suggestions"][f"{full}/{s}"]["suggestions"][rule] for s in seeds)
        ratios = [
            max(v / full_median, full_median / v)
            for v in (run["suggestions"][f"{small}/{s}"]["suggestions"][rule] for s in seeds)
        ]
        values = [entry["suggestions"][rule] for entry in run["suggestions"].values()]
        full_values = [run["suggestions"][f"{full}/{s}"]["suggestions"][rule] for s in seeds]
        result[rule] = {
            "worst_ratio_small_to_full": max(ratios),
            "in_band_full": sum(BAND[0] <= v <= BAND[1] for v in full_values),
            "in_band_all": sum(BAND[0] <= v <= BAND[1] for v in values),
            "count": len(values),
        }
    return result


def table(runs, rules):
    lines = [
        "| backend | rule | "
        + " | ".join(f"{size:,} images" for size in SIZES)
        + " | worst 2,000 / 55,000 | in [0.03, 0.3] at 55,000 |"
    ]
    lines.append("| --- | --- | " + " | ".join("---" for _ in SIZES) + " | --- | --- |")
    for backend, run in runs.items():
        verdict = checks(run, rules)
        for rule in rules:
            cells = []
            for size in SIZES:
                values = [run["suggestions"][f"{size}/{s}"]["suggestions"][rule] for s in SEEDS]
                cells.append(f"{statistics.median(values):.3g} ({min(values):.2g}–{max(values):.2g})")
            v = verdict[rule]
            lines.append(
                f"| {backend} | `{rule}` | "
                + " | ".join(cells)
                + f" | ×{v['worst_ratio_small_to_full']:.2f} | "
                f"{v['in_band_full']} of {len(SEEDS)} |"
            )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        print(json.dumps({"backend": args.child, "suggestions": measure(SEEDS, SIZES)}))
        return
    runs = harness.run_per_backend("lr_finder_rules", args.backends)
    from keras_tricks.lr_finder import RULES

    text = table(runs, RULES)
    warnings = sum(bool(entry["warnings"]) for run in runs.values() for entry in run["suggestions"].values())
    text += (
        f"\nSweeps with a warning: {warnings} of {sum(len(run['suggestions']) for run in runs.values())}.\n"
    )
    harness.write_results("lr_finder_rules", runs, text)


if __name__ == "__main__":
    main()
