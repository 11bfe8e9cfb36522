import os

# Quiet TensorFlow's C++ start-up lines; must be set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")  # figures render off-screen in tests

import keras  # noqa: E402
import pytest  # noqa: E402

# The scripts run in child processes are not test modules: importing one (as --doctest-modules would)
# runs its top level, which sets KERAS_BACKEND and TensorFlow's devices for the whole session.
collect_ignore_glob = ["*_child.py"]


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from a clean Keras session and the same seeds.

    `free_memory=False` skips the full `gc.collect()` Keras would run: 0.1 s (jax) to 0.2 s (tensorflow,
    torch) per test, over a minute per backend; Python's own collector still runs.
    """
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(1234)
    yield
