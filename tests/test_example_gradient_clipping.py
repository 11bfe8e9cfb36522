"""examples/gradient_clipping.py: every clipping mode with its clip rate, a tiny quick run."""

import gradient_clipping
import pytest


@pytest.mark.slow
def test_quick_run_logs_what_each_mode_clipped(section_run):
    rows, _, output = section_run("gradient-clipping")  # 512 images, 1 epoch
    assert len(rows) == 3 * len(gradient_clipping.MODES)
    by_mode = {label: rows[3 * i : 3 * i + 3] for i, label in enumerate(gradient_clipping.MODES)}
    for label, (rate, _, accuracy) in by_mode.items():
        assert 0 <= rate.ours <= 1 and 0 <= accuracy.ours <= 1, label
        assert rate.book is None and accuracy.floor is not None
    assert by_mode["no clipping (observed)"][0].ours == 0
    # θ = 1 is far below the BN model's gradient norm: global-norm clipping clips (nearly) every step,
    # and leaves a global norm of 1.
    rate, norms, _ = by_mode["global norm, θ = 1 (Keras global_clipnorm)"]
    before, after = (float(n) for n in norms.ours.split(" / "))
    assert rate.ours > 0.5 and before > 1 and after == pytest.approx(1.0, abs=0.01)
    assert (output / "gradient_clipping_modes.png").stat().st_size > 10_000
