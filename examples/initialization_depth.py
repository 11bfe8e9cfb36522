"""The signal through 50 layers: Table 11-1's initializers against N(0, 1), for tanh, ReLU and SELU.

Chapter 11 ("Glorot and He Initialization") says that with the initializer Table 11-1 prescribes the
variance of the signal stays roughly constant through depth, and that N(0, 1) makes it explode (or
saturates tanh). This pushes 512 standard-normal inputs through 50 random 256 × 256 layers, without
training, for several seeds, and prints the std of the last layer's pre-activation (the input's is 1)
and, for tanh, the fraction of saturated outputs (|tanh| > 0.99).

    python examples/initialization_depth.py             # 5 seeds, about a minute on 2 CPU cores
    python examples/initialization_depth.py --seeds 10
"""

import argparse

WIDTH, DEPTH, BATCH = 256, 50, 512


def _selu(z):
    import numpy as np

    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return scale * np.where(z > 0, z, alpha * (np.exp(np.minimum(z, 0)) - 1))


def through_stack(activation, initializer, seed):
    """(std of the 50th pre-activation, saturated fraction of the 50th tanh output or None)."""
    import keras
    import numpy as np

    functions = {"relu": lambda z: np.maximum(z, 0), "selu": _selu, "tanh": np.tanh}
    a = np.random.default_rng(0).normal(size=(BATCH, WIDTH))
    config = initializer.get_config()
    with np.errstate(all="ignore"):
        for layer in range(DEPTH):
            config["seed"] = seed * 1000 + layer  # a distinct matrix per layer and per seed
            w = type(initializer).from_config(config)((WIDTH, WIDTH))
            z = a @ keras.ops.convert_to_numpy(w).astype("float64")
            a = functions[activation](z)
    saturated = float(np.mean(np.abs(a) > 0.99)) if activation == "tanh" else None
    return float(z.std()), saturated


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1; received {args.seeds}")

    import keras

    from keras_tricks import initializers

    print("| activation | initializer | std of layer 50's pre-activation (input: 1), per seed | saturated |")
    print("| --- | --- | --- | --- |")
    for activation in ("tanh", "relu", "selu"):
        prescribed = initializers.for_activation(activation)
        for label, initializer in (
            (f"{type(prescribed).__name__} (Table 11-1)", prescribed),
            ("N(0, 1)", keras.initializers.RandomNormal(stddev=1.0)),
        ):
            runs = [through_stack(activation, initializer, seed) for seed in range(args.seeds)]
            stds = ", ".join(f"{std:.3g}" for std, _ in runs)
            saturated = "—" if runs[0][1] is None else ", ".join(f"{s:.0%}" for _, s in runs)
            print(f"| {activation} | {label} | {stds} | {saturated} |")


if __name__ == "__main__":
    main()
