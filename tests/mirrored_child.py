"""Run by `test_gradient_clipping_distributed.py` in a fresh process (tensorflow backend).

Logical devices must be configured before TensorFlow initializes, hence a separate process. Trains the
same model on the same global batches on one device and under a two-replica `MirroredStrategy`, and
prints, as JSON, the logged global norms and the largest weight difference between the two runs, for
`GradientClipping` and for Keras's own `global_clipnorm`.
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from keras_tricks.optimizers import GradientClipping  # noqa: E402


def train(make_optimizer, strategy):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 1)) * 5.0).astype("float32")
    with strategy.scope():
        keras.utils.set_random_seed(3)
        model = keras.Sequential(
            [keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
        )
        model.compile(loss="mse", optimizer=make_optimizer())
    model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    return model


def main():
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    single = tf.distribute.get_strategy()
    out = {"replicas": mirrored.num_replicas_in_sync}
    candidates = {
        "ours": lambda: GradientClipping(keras.optimizers.SGD(0.05, momentum=0.9), "global_norm", 1.0),
        "keras": lambda: keras.optimizers.SGD(0.05, momentum=0.9, global_clipnorm=1.0),
        "unclipped": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
    }
    for name, make in candidates.items():
        one, two = train(make, single), train(make, mirrored)
        out[name] = {
            "max_weight_difference": max(
                float(np.max(np.abs(keras.ops.convert_to_numpy(a) - keras.ops.convert_to_numpy(b))))
                for a, b in zip(one.weights, two.weights, strict=True)
            )
        }
        if name == "ours":
            for label, model in (("single", one), ("mirrored", two)):
                stats = model.optimizer.statistics()
                out[name][label] = {
                    k: float(keras.ops.convert_to_numpy(v)) for k, v in stats.items() if "/" not in k
                }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
