"""How many rows `keras_tricks.mc_predict` should push through the model per compiled call, per backend.

`mc_predict` tiles a batch `k` times inside one compiled call, so a call holds `k × batch_size` rows
(`keras_tricks.monte_carlo._ROWS_PER_CALL` caps it: 1,024 on jax, 4,096 on tensorflow and torch). This
times `mc_predict(model, x_test, samples=100)` on the book's MC-dropout MLP with the cap at 512, 1,024,
2,048 and 4,096 rows, and the random-number floor (the same dropout masks drawn alone by an `MCDropout`
on zeros) in calls of each size, against 100 plain `model.predict` passes; the configurations are
interleaved round by round.

Command (about 10 minutes on 2 cores):

    python benchmarks/mc_rows_per_call.py --backends tensorflow jax torch --samples 2000 --epochs 3
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402
from benchmarks.mc_predict import (  # noqa: E402
    BATCH_SIZE,
    PASSES,
    book_dropout_mlp,
    predict_passes,
    random_number_floor,
)

SIZES = (512, 1024, 2048, 4096)


def make_configs(args):
    import keras_tricks
    from keras_tricks import monte_carlo
    from keras_tricks.datasets import load_fashion_mnist

    _, _, (x_test, _) = load_fashion_mnist()
    x_test = x_test[: args.samples]
    model = book_dropout_mlp()

    def mc(size):
        def run():
            monte_carlo._ROWS_PER_CALL = size
            keras_tricks.mc_predict(model, x_test, samples=PASSES, batch_size=BATCH_SIZE, seed=0)

        return run

    baseline = f"{PASSES} × model.predict (batch {BATCH_SIZE})"
    timed = [harness.Timed(baseline, predict_passes(model, x_test))]
    for size in SIZES:
        timed.append(harness.Timed(f"mc_predict, at most {size} rows per call", mc(size), baseline))
    for size in SIZES:
        floor = random_number_floor(len(x_test), size)
        timed.append(harness.Timed(f"random-number floor, calls of {size} rows", floor, baseline))
    return timed


if __name__ == "__main__":
    harness.main(
        "mc_rows_per_call",
        f"`keras_tricks.mc_predict` ({PASSES} samples, batch {BATCH_SIZE}) with at most 512 to 4,096 rows "
        "per compiled call, and the dropout masks drawn alone in calls of each size, against "
        f"{PASSES} plain `model.predict` passes, on the book's MC-dropout MLP.",
        make_configs,
    )
