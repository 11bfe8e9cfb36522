"""The combined recipe in two worker processes on 127.0.0.1 equals it in one process.

The test picks two free ports, starts the workers (`multiworker_child.py`), bounds them in time (killed
after `TIMEOUT` seconds) and always stops them. Engines, as Keras 3 supports them:

- jax: `jax.distributed.initialize` with gloo CPU collectives, then `keras.distribution.DataParallel`
  over both processes' devices; each process feeds its half of every global batch. It works: both
  workers end with the one-process run's logs, decisions and weights.
- tensorflow: `tf.distribute.MultiWorkerMirroredStrategy` (`TF_CONFIG`). It fails inside Keras, before
  the first step and for a plain Keras model too (keras-team/keras#20585): `Model.fit` reduces the first
  distributed batch with `strategy.reduce` in `_maybe_symbolic_build`, and the collective reduce cannot
  convert the `PerReplica` value. `test_multi_worker_mirrored_strategy_fails_in_keras` pins the error;
  the strict xfail turns into a failure the day Keras fixes it, so this file gets updated.
- torch: Keras has no multi-process engine for torch.
"""

import json
import os
import socket
import subprocess
import sys
import time

import keras
import pytest

from tests.integration import combined

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        keras.backend.backend() == "torch", reason="Keras 3 has no multi-process training engine for torch"
    ),
]

TIMEOUT = 300  # seconds for all the workers of one run; each takes ~15-30 s on 2 loaded cores
CHILD = os.path.join(os.path.dirname(__file__), "multiworker_child.py")
KERAS_ERROR = "Attempt to convert a value (PerReplica:"


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run(engine, indices, *extra):
    """Starts one process per index, waits at most `TIMEOUT` s in all, kills what is left.

    Returns one `(returncode, stdout, stderr)` per process; returncode `None` if it was killed."""
    ports = ",".join(map(str, _free_ports(2)))
    env = {**os.environ, "KERAS_BACKEND": engine, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    processes = [
        subprocess.Popen(
            [sys.executable, CHILD, engine, index, ports, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for index in indices
    ]
    results = []
    deadline = time.monotonic() + TIMEOUT
    try:
        for process in processes:
            try:
                out, err = process.communicate(timeout=max(deadline - time.monotonic(), 0.1))
                results.append((process.returncode, out, err))
            except subprocess.TimeoutExpired:
                process.kill()
                out, err = process.communicate()
                results.append((None, out, err))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


def _summary(result):
    returncode, out, err = result
    assert returncode == 0, f"worker exited with {returncode}:\n{err[-3000:]}"
    return json.loads(out.strip().splitlines()[-1])


def _assert_equals_one_process(worker, single):
    assert worker["processes"] == 2
    combined.assert_same_run(worker, single, history_keys=("loss", "val_loss", "grad_norm", "grad_norm_max"))


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX multi-process: the jax backend's engine")
def test_two_jax_processes_equal_one():
    single = _summary(_run("jax", ["single"])[0])
    workers = [_summary(r) for r in _run("jax", ["0", "1"])]
    for worker in workers:
        _assert_equals_one_process(worker, single)
    assert workers[0]["weights"] == workers[1]["weights"]  # one model, replicated on both processes


@pytest.fixture(scope="module")
def mwms_runs():
    return {"ours": _run("tensorflow", ["0", "1"]), "plain": _run("tensorflow", ["0", "1"], "plain")}


tensorflow_only = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="MultiWorkerMirroredStrategy: the tensorflow engine"
)


@tensorflow_only
def test_multi_worker_mirrored_strategy_fails_in_keras(mwms_runs):
    # The same error with keras-tricks and without it: keras 3.15.1, tensorflow 2.21.0.
    for name, results in mwms_runs.items():
        returncode, _, err = results[0]
        assert returncode not in (0, None), f"{name}: worker 0 did not fail (exit {returncode})"
        assert KERAS_ERROR in err, f"{name}: another failure:\n{err[-3000:]}"
        assert "in _maybe_symbolic_build" in err, err[-3000:]


@tensorflow_only
@pytest.mark.xfail(
    strict=True,
    reason="keras-team/keras#20585: Model.fit under MultiWorkerMirroredStrategy raises ValueError: "
    "Attempt to convert a value (PerReplica:{...}) with an unsupported type to a Tensor "
    "(keras 3.15.1, tensorflow 2.21.0)",
)
def test_two_multi_worker_mirrored_processes_equal_one(mwms_runs):
    workers = [_summary(r) for r in mwms_runs["ours"]]
    single = _summary(_run("tensorflow", ["single"])[0])
    for worker in workers:
        _assert_equals_one_process(worker, single)


def test_a_worker_that_never_finishes_is_killed_at_the_deadline(monkeypatch):
    # Worker 0 alone waits for its peer forever (jax.distributed.initialize, or the strategy's
    # collective set-up): the run must come back, with the worker killed, not hang the test session.
    monkeypatch.setattr(sys.modules[__name__], "TIMEOUT", 5)
    ((returncode, _, _),) = _run(keras.backend.backend(), ["0"])
    assert returncode is None
