import os
import pathlib
import sys

# Quiet TensorFlow's C++ start-up lines; must be set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")  # figures render off-screen in tests

import keras  # noqa: E402
import pytest  # noqa: E402

# The scripts run in child processes are not test modules: importing one (as --doctest-modules would)
# runs its top level, which sets KERAS_BACKEND and TensorFlow's devices for the whole session.
collect_ignore_glob = ["*_child.py"]

# examples/ is a folder of scripts, not a package: its modules import one another by name, as they do when
# run as `python examples/x.py`. The one place the tests make them importable.
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "examples"))


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


@pytest.fixture(scope="session")
def section_run(tmp_path_factory):
    """`section_run(name)` runs a tour section (examples/sections.py) once per session at its `smoke`
    settings, seed 42, and returns `(rows, histories, output)`: its rows, the `History` of every `fit` it
    ran (in order) and the folder of its figures. The smoke test and the section's own tests share it."""
    import argparse

    import sections

    runs = {}

    def run(name):
        if name not in runs:
            section, histories, fit = sections.SECTIONS[name], [], keras.Model.fit
            output = tmp_path_factory.mktemp(name)

            def recorded_fit(model, *args, **kwargs):
                histories.append(fit(model, *args, **kwargs))
                return histories[-1]

            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(keras.Model, "fit", recorded_fit)
                rows = section.run(argparse.Namespace(full=False, output=str(output)), 42, section.smoke)
            runs[name] = (rows, histories, output)
        return runs[name]

    return run
