"""Figures for the chapter's diagnostics, drawn with matplotlib (the optional extra `plot`).

Every function takes an optional `ax` (a matplotlib `Axes`) and returns the `Axes` it drew on, so figures
compose and tests can inspect what was drawn.
"""

__all__ = ["gradient_norms", "lr_vs_loss", "schedule"]


def _pyplot():
    """Imports matplotlib's pyplot, or says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "keras_tricks.plot needs matplotlib: install keras-tricks[plot] "
            "(pip install 'keras-tricks[plot]') to draw this figure."
        ) from None
    return plt


def _axes(ax):
    return ax if ax is not None else _pyplot().subplots()[1]


def gradient_norms(history, ax=None, per_layer=True):
    """Global and per-variable gradient norms per epoch, with the clip rate on a second axis.

    Draws what `keras_tricks.callbacks.GradientNormLogger` logged: `grad_norm` (thick line), each
    `grad_norm/<variable path>` (thin lines) on a logarithmic axis, and `grad_clip_rate` (dashed) on a
    twin axis in [0, 1].

    Args:
        history: keras.callbacks.History or dict. What `model.fit` returned, or its `history` dict.
        ax: matplotlib Axes. Where to draw. Defaults to `None` (a new figure).
        per_layer: bool. Whether to draw the per-variable norms. Defaults to `True`.

    Returns:
        The `Axes` of the norms; the clip-rate axis is its twin.
    """
    logs = getattr(history, "history", history)
    if "grad_norm" not in logs:
        raise ValueError(
            "Expected the logs of a fit with keras_tricks.callbacks.GradientNormLogger (a 'grad_norm' key). "
            f"Received keys: {sorted(logs)}"
        )
    ax = _axes(ax)
    epochs = range(1, len(logs["grad_norm"]) + 1)
    if per_layer:
        for key in sorted(k for k in logs if k.startswith("grad_norm/")):
            ax.plot(epochs, logs[key], linewidth=1, alpha=0.8, label=key.removeprefix("grad_norm/"))
    ax.plot(epochs, logs["grad_norm"], color="black", linewidth=2.5, label="global")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean gradient norm")
    ax.legend(fontsize="small")
    if "grad_clip_rate" in logs:
        twin = ax.twinx()
        twin.plot(epochs, logs["grad_clip_rate"], color="tab:red", linestyle="--", label="clip rate")
        twin.set_ylim(0, 1.05)
        twin.set_ylabel("fraction of steps clipped", color="tab:red")
    return ax


def schedule(learning_rate_schedule, steps, ax=None):
    """Draws a learning-rate schedule over `steps` steps (the book's schedule figures).

    Args:
        learning_rate_schedule: `keras.optimizers.schedules.LearningRateSchedule`.
        steps: int. Steps to draw, from 0.
        ax: matplotlib `Axes`. Defaults to a new figure's.
    """
    import keras
    import numpy as np

    ax = _axes(ax)
    step = np.arange(steps)
    values = keras.ops.convert_to_numpy(learning_rate_schedule(step))
    ax.plot(step, values)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    return ax


def lr_vs_loss(learning_rates, losses, smoothed_losses=None, suggestion=None, ax=None):
    """Draws the loss against the learning rate on a log axis (the book's LR-finder figure).

    Args:
        learning_rates: array. Rates, one per step.
        losses: array. Loss of each step's batch.
        smoothed_losses: array. A smoothed curve to draw over it. Defaults to `None`.
        suggestion: float. A rate to mark with a vertical line. Defaults to `None`.
        ax: matplotlib `Axes`. Defaults to a new figure's.
    """
    ax = _axes(ax)
    ax.plot(learning_rates, losses, alpha=0.4, label="batch loss")
    if smoothed_losses is not None:
        ax.plot(learning_rates, smoothed_losses, label="smoothed")
    if suggestion is not None:
        ax.axvline(suggestion, color="k", linestyle="--", label=f"suggestion {suggestion:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.legend()
    return ax
