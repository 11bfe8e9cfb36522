import os

import keras
import numpy as np
import pytest

from keras_tricks.callbacks import SWA
from tests.helpers import Interrupt


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, size=(n, 3)).astype("float32")
    return x, (x @ np.array([1.0, -2.0, 0.5], "float32"))[:, None]


def _bn_model():
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4)(inputs)
    hidden = keras.layers.BatchNormalization(momentum=0.9)(hidden)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Activation("relu")(hidden)))
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    return model


class RecordWeights(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([keras.ops.convert_to_numpy(v) for v in self.model.trainable_variables])


def _assert_weights_close(actual, expected):
    for a, b in zip(actual, expected, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("start_epoch, every, averaged", [(2, 1, [2, 3, 4, 5]), (1, 2, [1, 3, 5])])
def test_average_is_the_mean_of_the_epoch_end_weights(start_epoch, every, averaged):
    model = _bn_model()
    record = RecordWeights()
    swa = SWA(start_epoch, every=every, bn_data=_data()[0])
    model.fit(*_data(), epochs=6, batch_size=16, verbose=0, callbacks=[record, swa])
    expected = [
        np.mean([record.weights[e][i] for e in averaged], axis=0) for i in range(len(record.weights[0]))
    ]
    assert swa.averaged_epochs == len(averaged)
    _assert_weights_close(model.trainable_variables, expected)
    assert not np.allclose(record.weights[-1][0], expected[0])  # the average is not the last weights


def _hidden(model, x):
    dense = model.layers[1]
    kernel, bias = (keras.ops.convert_to_numpy(v) for v in (dense.kernel, dense.bias))
    return x @ kernel + bias


@pytest.mark.parametrize("batch_size", [64, 16])
def test_batch_norm_statistics_are_those_of_the_data_under_the_averaged_weights(batch_size):
    model = _bn_model()
    x, y = _data()
    swa = SWA(1, bn_data=x, batch_size=batch_size)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[swa])
    batches = _hidden(model, x).reshape(64 // batch_size, batch_size, 4)
    bn = model.layers[2]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn.moving_mean), batches.mean(axis=1).mean(0), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn.moving_variance), batches.var(axis=1).mean(0), rtol=1e-4, atol=1e-5
    )
    assert bn.momentum == 0.9  # the user's momentum is back


def test_bn_data_as_a_dataset_of_pairs_in_a_nested_model():
    x, y = _data()
    inner = _bn_model()
    outer = keras.Sequential([keras.Input((3,)), inner])
    outer.compile(optimizer="sgd", loss="mse")

    class Pairs(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return x[32 * i : 32 * (i + 1)], y[32 * i : 32 * (i + 1)]

    swa = SWA(0, bn_data=Pairs())
    outer.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[swa])
    batches = _hidden(inner, x).reshape(2, 32, 4)
    bn = inner.layers[2]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn.moving_mean), batches.mean(axis=1).mean(0), rtol=1e-4, atol=1e-5
    )


def test_frozen_batch_norm_keeps_its_statistics_and_a_missing_bn_data_warns():
    model = _bn_model()
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    bn = model.layers[2]
    with pytest.warns(UserWarning, match="pass bn_data"):
        model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[SWA(0)])
    bn.trainable = False
    model.compile(optimizer="sgd", loss="mse")
    before = keras.ops.convert_to_numpy(bn.moving_mean)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[SWA(0, bn_data=x)])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.moving_mean), before)


def test_no_epoch_reaches_start_epoch_leaves_the_weights():
    model = _bn_model()
    record = RecordWeights()
    swa = SWA(5, bn_data=_data()[0])
    model.fit(*_data(), epochs=2, batch_size=16, verbose=0, callbacks=[record, swa])
    assert swa.averaged_epochs == 0
    _assert_weights_close(model.trainable_variables, record.weights[-1])


def test_average_survives_an_interruption_resumed_by_backup_and_restore(tmp_path):
    x, y = _data()

    def fit(model, callbacks):
        model.fit(x, y, epochs=6, batch_size=16, verbose=0, shuffle=False, callbacks=callbacks)

    keras.utils.set_random_seed(3)
    straight = _bn_model()
    fit(straight, [SWA(1, bn_data=x)])

    keras.utils.set_random_seed(3)
    resumed = _bn_model()
    state = os.fspath(tmp_path / "swa")
    backup = keras.callbacks.BackupAndRestore(os.fspath(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(resumed, [backup, SWA(1, bn_data=x, backup_dir=state), Interrupt(3)])
    swa = SWA(1, bn_data=x, backup_dir=state)
    fit(resumed, [backup, swa])
    assert swa.averaged_epochs == 5
    _assert_weights_close(resumed.weights, [keras.ops.convert_to_numpy(v) for v in straight.weights])
    assert not os.path.exists(state)


def test_has_no_per_batch_hook():
    assert SWA(0).async_safe
    for hook in ("on_batch_end", "on_train_batch_begin", "on_train_batch_end"):
        assert getattr(SWA, hook) is getattr(keras.callbacks.Callback, hook)


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        ({"start_epoch": -1}, ValueError, "start_epoch >= 0. Received: start_epoch=-1"),
        ({"start_epoch": 1.5}, TypeError, "Received: start_epoch=1.5"),
        ({"start_epoch": 0, "every": 0}, ValueError, "every >= 1. Received: every=0"),
        ({"start_epoch": 0, "batch_size": 0}, ValueError, "batch_size >= 1. Received: batch_size=0"),
    ],
)
def test_bad_arguments_are_refused(arguments, error, message):
    with pytest.raises(error, match=message):
        SWA(**arguments)
