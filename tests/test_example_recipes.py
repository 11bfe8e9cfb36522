"""examples/recipes.py: Tables 11-3 and 11-4 trained on a tiny slice of Fashion-MNIST."""

import pytest
import recipes
from book_models import build_model


def test_the_default_dnn_is_the_books_build_model():
    (_, _, default, pixels, _), (_, _, self_normalizing, sn_pixels, _) = recipes.models(42)
    book = build_model(42)
    assert [type(layer).__name__ for layer in default.layers] == ["Flatten"] + ["Dense"] * 4
    assert default.count_params() == book.count_params()
    assert (pixels, sn_pixels) == ("unit", "standardized")
    assert self_normalizing.layers[1].activation.__name__ == "selu"


@pytest.mark.slow
def test_quick_run_rows_and_figure(section_run):
    rows, _, output = section_run("recipes")  # 1,000 images, 1 epoch
    assert len(rows) == 4
    default, default_broken, self_normalizing, sn_broken = rows
    assert default.book == 0.8708 and self_normalizing.book is None
    assert 0.3 <= default.ours <= 1 and 0.3 <= self_normalizing.ours <= 1
    assert int(default_broken.ours) > 0 and sn_broken.ours == "0"
    assert (output / "recipes_curves.png").stat().st_size > 10_000
