"""examples/vanishing_gradients.py: its command line, and one short run on the real Fashion-MNIST."""

import pytest
import vanishing_gradients


@pytest.mark.parametrize("argv", [["--layers", "1"], ["--epochs", "0"], ["--samples", "0"]])
def test_bad_command_lines_get_a_usage_message(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        vanishing_gradients.parse_args(argv)
    assert exit_info.value.code == 2
    assert "Received" in capsys.readouterr().err


@pytest.mark.slow
def test_naive_sigmoid_gradients_vanish_towards_the_input(tmp_path):
    args = vanishing_gradients.parse_args(
        ["--layers", "6", "--epochs", "1", "--samples", "2000", "--output", str(tmp_path)]
    )
    naive, _, _ = vanishing_gradients.run("sigmoid, N(0, 1)", args)
    _, first_glorot, last_glorot = vanishing_gradients.run("sigmoid, Glorot", args)
    he, first_he, last_he = vanishing_gradients.run("ReLU, He", args)
    # The sigmoid net's lower layers get far smaller gradients than its upper ones; ReLU + He does not.
    assert last_glorot / first_glorot > 10 * (last_he / first_he)
    # N(0, 1) sigmoids saturate: that net learns far less than ReLU + He.
    assert naive.history["accuracy"][-1] < he.history["accuracy"][-1] - 0.1
