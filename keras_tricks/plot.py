"""Figures for the chapter's diagnostics, drawn with matplotlib (the optional extra `plot`).

Every function takes an optional `ax` (a matplotlib `Axes`) and returns the `Axes` it drew on, so figures
compose and tests can inspect what was drawn.
"""

__all__ = ["activation_histograms", "activation_saturation"]


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


def activation_saturation(stats, ax=None):
    """The diagnosis of Figure 11-1, layer by layer: how many outputs sit where the gradient vanishes.

    Draws, for each layer from the input (left) to the output (right), the fraction of saturated
    outputs (sigmoid, tanh layers) and of dead outputs (ReLU layers) as bars, and the standard deviation
    of the outputs as a line on a second y-axis (the signal shrinking or growing through depth).

    Args:
        stats: dict. The result of `keras_tricks.diagnostics.activation_stats`, or one entry of
            `keras_tricks.callbacks.ActivationStats(...).history` (its `stats`).
        ax: matplotlib Axes. Defaults to `None` (a new figure).

    Returns:
        The `Axes` with the bars (its twin holds the std line).
    """
    if not stats:
        raise ValueError(f"Expected the statistics of at least one layer. Received: stats={stats!r}")
    ax = _axes(ax)
    names = list(stats)
    positions = list(range(len(names)))

    def values(key):
        return [float("nan") if stats[name][key] is None else stats[name][key] for name in names]

    ax.bar([p - 0.2 for p in positions], values("saturated"), width=0.4, label="saturated (sigmoid, tanh)")
    ax.bar([p + 0.2 for p in positions], values("dead"), width=0.4, label="dead (ReLU)")
    ax.set_ylim(0, 1.2)  # room for the legend above the bars
    ax.set_ylabel("fraction of outputs")
    ax.set_xticks(positions, names, rotation=90)
    ax.set_xlabel("layer (input → output)")
    std_ax = ax.twinx()
    (std_line,) = std_ax.plot(
        positions, [stats[name]["std"] for name in names], "k.-", label="std (right axis)"
    )
    std_ax.set_ylabel("std of outputs")
    std_ax.set_ylim(bottom=0)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(
        [*handles, std_line], [*labels, std_line.get_label()], loc="upper left", ncol=3, fontsize="small"
    )
    ax.set_title("Saturated and dead activations per layer")
    return ax


def activation_histograms(history, layer, ax=None):
    """The histogram of one layer's outputs at each measured epoch, one line per epoch.

    Args:
        history: list. `keras_tricks.callbacks.ActivationStats(...).history`: `(epoch, stats)` pairs.
        layer: str. The layer's name.
        ax: matplotlib Axes. Defaults to `None` (a new figure).

    Returns:
        The `Axes` drawn on.
    """
    if not history:
        raise ValueError(f"Expected at least one measured epoch. Received: history={history!r}")
    known = list(history[0][1])
    if layer not in known:
        raise ValueError(
            f"Unknown layer {layer!r}; the statistics have the layers {known}. Received: layer={layer!r}"
        )
    ax = _axes(ax)
    colors = _pyplot().get_cmap("viridis")
    for index, (epoch, stats) in enumerate(history):
        histogram = stats[layer]["histogram"]
        ax.stairs(
            histogram["counts"],
            histogram["edges"],
            color=colors(index / max(len(history) - 1, 1)),
            label=f"epoch {epoch + 1}",
        )
    ax.set_xlabel(f"output of {layer}")
    ax.set_ylabel("count")
    ax.legend()
    ax.set_title(f"Outputs of {layer} over epochs")
    return ax
