"""keras_tricks._messages: `print_msg` goes where Keras's own callback messages go: standard output while
interactive logging is on, the `absl` logger once `keras.utils.disable_interactive_logging()` is
called, so that one switch silences or redirects both."""

import logging

import keras
import pytest

from keras_tricks import _messages


@pytest.fixture
def interactive_logging_restored():
    yield
    keras.utils.enable_interactive_logging()


def _keras_says_something():
    """Makes Keras's own ReduceLROnPlateau print its message (through Keras's logging)."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, verbose=1)
    plateau.set_model(model)
    plateau.on_train_begin()
    plateau.on_epoch_end(0, {"loss": 1.0})
    plateau.on_epoch_end(1, {"loss": 1.0})


def test_with_interactive_logging_the_message_is_one_line_on_stdout_like_keras(capsys):
    assert keras.utils.is_interactive_logging_enabled()
    _messages.print_msg("Epoch 3: keras-tricks says hello")
    assert capsys.readouterr().out == "Epoch 3: keras-tricks says hello\n"
    _keras_says_something()
    assert "ReduceLROnPlateau reducing learning rate" in capsys.readouterr().out


def test_without_interactive_logging_the_message_goes_to_absl_at_info_like_keras(
    capsys, caplog, interactive_logging_restored
):
    keras.utils.disable_interactive_logging()
    with caplog.at_level(logging.INFO, logger="absl"):
        _messages.print_msg("Epoch 3: keras-tricks says hello")
        _keras_says_something()
    assert capsys.readouterr().out == ""
    ours = [r for r in caplog.records if r.getMessage() == "Epoch 3: keras-tricks says hello"]
    theirs = [r for r in caplog.records if "ReduceLROnPlateau reducing learning rate" in r.getMessage()]
    assert len(ours) == 1 and len(theirs) == 1
    assert (ours[0].name, ours[0].levelno) == (theirs[0].name, theirs[0].levelno) == ("absl", logging.INFO)


def test_a_multi_line_message_is_written_whole_with_one_final_newline(capsys):
    _messages.print_msg("first line\nsecond line")
    assert capsys.readouterr().out == "first line\nsecond line\n"
