"""keras_tricks/layers/_stochastic.py: the random layers' generator state is saved with the weights, so a
fit resumed by BackupAndRestore draws what the uninterrupted one drew; Keras's own Dropout does not."""

import keras
import numpy as np
import pytest

from keras_tricks.layers import MCAlphaDropout, MCDropout, RReLU
from tests import helpers
from tests.helpers import Interrupt


def _model(random_layer):
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, name="hidden"), random_layer, keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return model


def _fit(model, callbacks):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    model.fit(x, x[:, :1], batch_size=8, epochs=4, shuffle=False, verbose=0, callbacks=callbacks)


def _resumed(make_layer, tmp_path):
    backup = str(tmp_path / "backup")
    model = _model(make_layer())
    with pytest.raises(RuntimeError, match="interrupted"):
        _fit(model, [keras.callbacks.BackupAndRestore(backup), Interrupt(2)])
    resumed = _model(make_layer())  # a new process: built again, its generator at its seed
    _fit(resumed, [keras.callbacks.BackupAndRestore(backup)])
    return resumed


LAYERS = {
    "rrelu": lambda: RReLU(seed=1),
    "mc_dropout": lambda: MCDropout(0.3, seed=1),
    "mc_alpha_dropout": lambda: MCAlphaDropout(0.3, seed=1),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_resumed_fit_draws_what_the_uninterrupted_one_drew(name, tmp_path):
    straight = _model(LAYERS[name]())
    _fit(straight, [])
    resumed = _resumed(LAYERS[name], tmp_path)
    helpers.assert_resumed_equals_uninterrupted(resumed, straight)


def test_kerass_dropout_does_not_save_its_generator_a_documented_limit(tmp_path):
    straight = _model(keras.layers.Dropout(0.3, seed=1))
    _fit(straight, [])
    resumed = _resumed(lambda: keras.layers.Dropout(0.3, seed=1), tmp_path)
    assert any(
        not np.array_equal(a, b) for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True)
    )


def test_the_state_is_in_the_saved_file_and_an_older_file_loads(tmp_path):
    model = _model(RReLU(seed=1))
    _fit(model, [])
    layer = model.layers[1]
    state = keras.ops.convert_to_numpy(layer.seed_generator.state)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded.layers[1].seed_generator.state), state)
    # A file saved before the state was saved (only the layer's own variables): loads, generator at its seed.
    fresh = RReLU(seed=1)
    fresh.load_own_variables({})
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(fresh.seed_generator.state),
        keras.ops.convert_to_numpy(RReLU(seed=1).seed_generator.state),
    )
