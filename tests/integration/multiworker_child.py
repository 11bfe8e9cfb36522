"""Run by `test_multiworker.py`: one worker of a two-process training run on 127.0.0.1.

`python multiworker_child.py ENGINE INDEX PORTS [plain]`. ENGINE: `tensorflow`
(`MultiWorkerMirroredStrategy`, configured by `TF_CONFIG`) or `jax` (`jax.distributed.initialize` with
gloo CPU collectives, then `keras.distribution.DataParallel` over both processes' devices). INDEX: `0`
or `1`, or `single` for the one-process reference. PORTS: the comma-separated free ports the test
picked. Trains `combined.py`'s recipe on the same global batches and prints one JSON line,
`combined.summary(...)` plus `processes`. With `plain` (tensorflow only) it trains a plain Keras model
instead, without keras-tricks: a failure there is Keras's own. The framework must be set up before it
starts, hence a process per worker.
"""

import json
import os
import sys

engine, index, ports = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
plain = sys.argv[4:] == ["plain"]
os.environ["KERAS_BACKEND"] = engine
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

if engine == "tensorflow" and index != "single":
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
            "task": {"type": "worker", "index": int(index)},
        }
    )


def run_tensorflow():
    import keras
    import tensorflow as tf

    keras.config.disable_traceback_filtering()  # a failure shows where in Keras it comes from

    from tests.integration import combined

    if index == "single":
        return {"processes": 1, **combined.summary(*combined.train())}
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    if plain:
        import numpy as np

        with strategy.scope():
            model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1)])
            model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.01))
        history = model.fit(
            np.ones((64, 6), "float32"), np.ones((64, 1), "float32"), batch_size=32, verbose=0
        )
        return {"processes": strategy.num_replicas_in_sync, "loss": history.history["loss"]}
    with strategy.scope():
        model = combined.build()
    out = combined.summary(*combined.train(model))
    return {"processes": strategy.num_replicas_in_sync, **out}


def run_jax():
    import jax

    if index != "single":
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{ports[0]}", num_processes=len(ports), process_id=int(index)
        )
    import keras

    from tests.integration import combined

    if index == "single":
        return {"processes": 1, **combined.summary(*combined.train())}
    # Each process feeds its own share of every global batch (`combined.process_shard`).
    distribution = keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
    keras.distribution.set_distribution(distribution)
    out = combined.summary(*combined.train(shard=(jax.process_index(), jax.process_count())))
    return {"processes": jax.process_count(), **out}


if __name__ == "__main__":
    print(json.dumps(run_tensorflow() if engine == "tensorflow" else run_jax()))
