"""Run by `test_cross_backend.py` with KERAS_BACKEND set: saves the every-object model, or loads files.

    python cross_backend_child.py CHECKOUT save FILE       trains one epoch, saves FILE (+ FILE.npz weights)
    python cross_backend_child.py CHECKOUT load FILE...    loads each file, trains one more epoch

`load` prints one JSON line: for each file, whether the weights and optimizer variables loaded equal
those saved, the optimizer chain, and the loss of the next epoch (or the error it raised).
"""

import json
import sys

sys.path.insert(0, sys.argv[1])

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_tricks  # noqa: E402, F401  (registers the classes)
from tests.integration import everything  # noqa: E402

mode, files = sys.argv[2], sys.argv[3:]
x, y = everything.data()
if mode == "save":
    model = everything.model() if files[1:] != ["plain"] else None
    if model is None:  # plain Keras: the backend's own optimizer class in the file
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    model.save(files[0])
    np.savez(
        files[0] + ".npz",
        *[np.asarray(w) for w in model.get_weights()],
        *[np.asarray(keras.ops.convert_to_numpy(v)) for v in model.optimizer.variables],
    )
else:
    out = {}
    for path in files:
        model = keras.saving.load_model(path, safe_mode=True)
        saved = np.load(path + ".npz")
        loaded = [np.asarray(w) for w in model.get_weights()]
        loaded += [np.asarray(keras.ops.convert_to_numpy(v)) for v in model.optimizer.variables]
        same = len(saved.files) == len(loaded) and all(
            np.array_equal(saved[f"arr_{i}"], value) for i, value in enumerate(loaded)
        )
        chain, optimizer = [], model.optimizer
        while optimizer is not None:
            chain.append(f"{type(optimizer).__module__}.{type(optimizer).__name__}")
            optimizer = getattr(optimizer, "inner_optimizer", None)
        try:
            loss = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history["loss"][-1]
            error = None
        except Exception as exception:  # noqa: BLE001  (reported to the test)
            loss, error = None, f"{type(exception).__name__}: {exception}"[:300]
        out[path] = {"same": bool(same), "chain": chain, "loss": loss, "error": error}
    print(json.dumps(out))
