"""Run by `test_distributed.py` in a fresh process: the combined recipe on one device and on two.

`python distributed_child.py tensorflow` trains `combined.py`'s recipe on the default strategy, then
under `tf.distribute.MirroredStrategy` on two logical CPU devices; `python distributed_child.py jax`
without a distribution, then under `keras.distribution.DataParallel` on two host devices. Devices must
be configured before the framework initializes, hence a separate process (as `tests/mirrored_child.py`).
Prints one JSON line: `{"devices": n, "single": summary, "distributed": summary}`.
"""

import json
import os
import sys

engine = sys.argv[1]
os.environ["KERAS_BACKEND"] = engine
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if engine == "jax":
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
else:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import keras  # noqa: E402

from tests.integration import combined  # noqa: E402


def run_tensorflow():
    import tensorflow as tf

    def train(strategy):
        with strategy.scope():
            model = combined.build()
        out = combined.summary(*combined.train(model))
        # Where the state lives: one copy per replica of a weight and of an optimizer slot.
        out["weight_copies"] = len(strategy.experimental_local_results(model.weights[0].value))
        out["slot_copies"] = len(strategy.experimental_local_results(model.optimizer.variables[-1].value))
        return out

    single = train(tf.distribute.get_strategy())
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    return {"devices": mirrored.num_replicas_in_sync, "single": single, "distributed": train(mirrored)}


def run_jax():
    import jax

    def train():
        model, history, stop = combined.train()
        out = combined.summary(model, history, stop)
        # Where the state lives: the devices holding a weight and an optimizer slot.
        out["weight_copies"] = len(model.weights[0].value.sharding.device_set)
        out["slot_copies"] = len(model.optimizer.variables[-1].value.sharding.device_set)
        return out

    single = train()
    devices = jax.devices()
    keras.backend.clear_session(free_memory=False)  # before: it would also clear the distribution
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return {"devices": len(devices), "single": single, "distributed": train()}


if __name__ == "__main__":
    print(json.dumps(run_tensorflow() if engine == "tensorflow" else run_jax()))
