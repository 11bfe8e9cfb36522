"""Run by `test_hygiene.py` in a fresh process: import keras_tricks with the network blocked.

Every way Python opens a connection or resolves a name raises (and is recorded) before anything is
imported; then the package and every subpackage are imported and, given a `.keras` path, the file is
loaded with `safe_mode=True` and no `custom_objects`. Prints one JSON line: the attempts and what
loaded.
"""

import json
import socket
import sys

attempts = []


def _blocked(name):
    def refuse(*args, **kwargs):
        attempts.append(f"{name}{args[1:] if name.startswith('socket.') else args}")
        raise OSError(f"network blocked by the test: {name}")

    return refuse


socket.socket.connect = _blocked("socket.connect")
socket.socket.connect_ex = _blocked("socket.connect_ex")
socket.socket.sendto = _blocked("socket.sendto")
socket.create_connection = _blocked("create_connection")
socket.getaddrinfo = _blocked("getaddrinfo")
socket.gethostbyname = _blocked("gethostbyname")

sys.path.insert(0, sys.argv[1])  # the checkout under test

import importlib  # noqa: E402
import pkgutil  # noqa: E402

package = importlib.import_module("keras_tricks")
for module in pkgutil.walk_packages(package.__path__, "keras_tricks."):  # every module, private too
    importlib.import_module(module.name)

out = {"attempts": attempts, "file": importlib.import_module("keras_tricks").__file__}
if len(sys.argv) > 2:
    import keras
    import numpy as np

    model = keras.saving.load_model(sys.argv[2], safe_mode=True)
    x = np.load(sys.argv[3])
    out["classes"] = sorted({type(layer).__name__ for layer in model.layers})
    optimizer, chain = model.optimizer, []
    while optimizer is not None:
        chain.append(type(optimizer).__name__)
        optimizer = getattr(optimizer, "inner_optimizer", None)
    out["optimizers"] = chain
    out["weights"] = [np.asarray(w).tolist() for w in model.get_weights()]
    out["optimizer_variables"] = [
        np.asarray(keras.ops.convert_to_numpy(v)).tolist() for v in model.optimizer.variables
    ]
    out["predict"] = np.asarray(model.predict(x, verbose=0)).tolist()
    out["attempts"] = attempts
print(json.dumps(out))
