import csv
import glob

import keras
import numpy as np
import pytest

from keras_tricks import plot
from keras_tricks.callbacks import GradientNormLogger
from keras_tricks.optimizers import GradientClipping


def _data(samples=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 4)).astype("float32")
    return x, (x.sum(axis=1, keepdims=True) * 20.0).astype("float32")


def _model(optimizer=None, **compile_kwargs):
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(1)]
    )
    if optimizer is None:
        optimizer = GradientClipping(keras.optimizers.SGD(0.01), "global_norm", threshold=1.0)
    model.compile(loss="mse", optimizer=optimizer, **compile_kwargs)
    return model


def test_epoch_logs_hold_the_statistics_and_are_reset():
    x, y = _data()
    model = _model()
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[GradientNormLogger()])
    logs = history.history
    for key in [
        "grad_norm",
        "grad_norm_max",
        "grad_norm_clipped",
        "grad_clip_rate",
        "grad_nonfinite_steps",
    ] + [f"grad_norm/{layer}/{name}" for layer in ("dense", "dense_1") for name in ("kernel", "bias")]:
        assert len(logs[key]) == 2, key
    assert all(n > 1.0 for n in logs["grad_norm"])
    assert logs["grad_norm_clipped"] == pytest.approx([1.0, 1.0], rel=1e-5)
    assert logs["grad_clip_rate"] == [1.0, 1.0]
    # reset at each epoch end: the accumulators are empty after fit
    assert float(model.optimizer.statistics()["grad_steps"]) == 0.0


def test_epoch_values_are_means_of_that_epoch_only():
    x, y = _data(32)
    model = _model(GradientClipping(keras.optimizers.SGD(0.0), mode=None))
    # learning rate 0 and one batch per epoch: every epoch has the same gradient, so a missing reset
    # would show as a doubled per-epoch sum, not as the same mean.
    history = model.fit(
        x, y, batch_size=32, epochs=3, verbose=0, callbacks=[GradientNormLogger(per_layer=False)]
    )
    norms = history.history["grad_norm"]
    assert norms[0] > 0 and norms == pytest.approx([norms[0]] * 3, rel=1e-6)
    assert not any(k.startswith("grad_norm/") for k in history.history)


def test_every_n_steps_reads_during_the_epoch():
    x, y = _data(64)
    model = _model()
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append("grad_norm" in logs)

    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[GradientNormLogger(every_n_steps=4), Spy()])
    assert seen == [False, False, False, True] * 2


def test_values_land_in_a_csv_logger_file(tmp_path):
    x, y = _data()
    model = _model()
    csv_path = tmp_path / "log.csv"
    callbacks = [GradientNormLogger(), keras.callbacks.CSVLogger(str(csv_path))]
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=callbacks)
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert [float(r["grad_norm"]) for r in rows] == pytest.approx(history.history["grad_norm"])
    kernel_key = "grad_norm/dense/kernel"  # the model's first Dense, whatever was built before it
    assert [float(r[kernel_key]) for r in rows] == pytest.approx(history.history[kernel_key])


def test_values_land_in_a_tensorboard_event_file(tmp_path):
    pytest.importorskip("tensorboard")  # Keras's TensorBoard callback writes through it
    import tensorflow as tf

    x, y = _data()
    model = _model()
    callbacks = [GradientNormLogger(), keras.callbacks.TensorBoard(str(tmp_path / "tb"))]
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=callbacks)
    written = {}
    for path in glob.glob(str(tmp_path / "tb" / "train" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if not value.tag.startswith("epoch_"):  # on tensorflow also the model's config, as text
                    continue
                written.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    assert written["epoch_grad_norm"] == pytest.approx(history.history["grad_norm"])
    assert written["epoch_grad_clip_rate"] == pytest.approx(history.history["grad_clip_rate"])


def test_unwrapped_optimizer_fails_with_the_wrapping_line():
    x, y = _data(16)
    model = _model(keras.optimizers.SGD(0.01))
    with pytest.raises(ValueError, match=r"optimizer=keras_tricks\.optimizers\.GradientMonitor\(optimizer\)"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[GradientNormLogger()])


def test_async_safe_and_no_batch_hook_by_default():
    logger = GradientNormLogger()
    assert logger.async_safe
    # the batch hook is Keras's own (empty) one: fit calls no Python per batch
    assert logger.on_train_batch_end.__func__ is keras.callbacks.Callback.on_train_batch_end
    assert not GradientNormLogger(every_n_steps=10).async_safe


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"per_layer": 1}, TypeError, r"Received: per_layer=1"),
        ({"every_n_steps": 0}, ValueError, r"Received: every_n_steps=0"),
        ({"every_n_steps": 2.0}, TypeError, r"Received: every_n_steps=2.0"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        GradientNormLogger(**kwargs)


def test_plot_draws_global_per_layer_and_clip_rate():
    x, y = _data()
    model = _model()
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[GradientNormLogger()])
    ax = plot.gradient_norms(history)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "global" in labels and len(labels) == 1 + len(model.trainable_variables)
    np.testing.assert_allclose(ax.get_lines()[-1].get_ydata(), history.history["grad_norm"])
    twin = [other for other in ax.figure.axes if other is not ax][0]
    np.testing.assert_allclose(twin.get_lines()[0].get_ydata(), history.history["grad_clip_rate"])
    with pytest.raises(ValueError, match="GradientNormLogger"):
        plot.gradient_norms({"loss": [1.0]})
