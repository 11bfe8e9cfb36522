"""Figures for the chapter's diagnostics, drawn with matplotlib (the optional extra `plot`).

Every function takes an optional `ax` (a matplotlib `Axes`) and returns the `Axes` it drew on, so figures
compose and tests can inspect what was drawn.
"""

__all__ = [
    "activation_histograms",
    "activation_map",
    "activation_saturation",
    "diagnosis",
    "gradient_norm_map",
    "gradient_norms",
    "lr_vs_loss",
    "schedule",
]


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
    `grad_norm/<variable key>` (thin lines) on a logarithmic axis, and `grad_clip_rate` (dashed) on a
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


def lr_vs_loss(
    learning_rates,
    losses,
    smoothed_losses=None,
    suggestion=None,
    ax=None,
    suggestions=None,
    chosen=None,
    window=None,
):
    """Draws the loss against the learning rate on a log axis (the book's LR-finder figure).

    With `window` (the steps the finder's rules read, `(start, end)`), the y axis spans that part of the
    smoothed curve and a margin, as fastai draws it, instead of stretching to the blow-up at the end.
    `FindLearningRateResult.plot()` calls it with every rule's suggestion and the chosen rule.

    Args:
        learning_rates: array. Rates, one per step.
        losses: array. Loss of each step's batch.
        smoothed_losses: array. A smoothed curve to draw over it. Defaults to `None`.
        suggestion: float. A rate to mark with a vertical line. Defaults to `None`.
        ax: matplotlib `Axes`. Defaults to a new figure's.
        suggestions: dict. `{rule: rate}`: each marked on the curve. Defaults to `None`.
        chosen: str. The rule whose mark is labelled with its rate. Defaults to `None`.
        window: tuple. `(start, end)`, the informative steps (sets the y range). Defaults to `None`.

    Returns:
        The `Axes` drawn on.
    """
    import numpy as np

    ax = _axes(ax)
    learning_rates, losses = np.asarray(learning_rates), np.asarray(losses)
    ax.plot(learning_rates, losses, alpha=0.3, color="tab:blue", label="batch loss")
    curve = losses if smoothed_losses is None else np.asarray(smoothed_losses)
    if smoothed_losses is not None:
        ax.plot(learning_rates, curve, color="tab:blue", label="smoothed")
    if suggestion is not None:
        ax.axvline(suggestion, color="k", linestyle="--", label=f"suggestion {suggestion:.3g}")
    markers = iter("os^Dv")
    for rule, rate in (suggestions or {}).items():
        at = np.interp(np.log(rate), np.log(learning_rates), curve)
        if rule == chosen:
            ax.axvline(rate, color="tab:red", linewidth=1)
            ax.plot([rate], [at], "o", color="tab:red", markersize=9, label=f"{rule} (chosen): {rate:.3g}")
        else:
            ax.plot([rate], [at], next(markers, "x"), color="tab:gray", label=f"{rule}: {rate:.3g}")
    if window is not None and window[1] > window[0]:
        read = curve[window[0] : window[1]]
        read = read[np.isfinite(read)]
        if read.size:
            low, high = float(read.min()), float(max(read.max(), curve[window[0]]))
            margin = 0.15 * (high - low) or 0.1 * abs(high) or 1.0
            ax.set_ylim(low - margin, high + margin)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.legend(fontsize="small")
    return ax


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
    histograms = _layer_histograms(history, layer)
    ax = _axes(ax)
    colors = _pyplot().get_cmap("viridis")
    for index, (epoch, histogram) in enumerate(histograms):
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


def _per_layer(logs, kind):
    """`(layer names, matrix layers × epochs)` of the `<kind>/<layer>/kernel` series of `logs`."""
    import numpy as np

    keys = [key for key in logs if key.startswith(f"{kind}/") and key.endswith("/kernel")]
    if not keys:
        raise ValueError(
            f"Expected per-layer keys '{kind}/<layer>/kernel' in the logs (from "
            f"GradientNormLogger(per_layer=True)). Received keys: {sorted(logs)}"
        )
    names = [key[len(kind) + 1 : -len("/kernel")] for key in keys]
    return names, np.array([np.asarray(logs[key], dtype="float64") for key in keys])


def gradient_norm_map(history, ax=None):
    """Each layer's gradient norm at each epoch as a heat map: vanishing or exploding gradients at a glance.

    Rows are the layers' kernels from the input (top) to the output (bottom), columns the epochs, the
    colour the log10 of the mean gradient norm `GradientNormLogger(per_layer=True)` logged (blank while a
    layer is frozen). A column that darkens towards the top is vanishing gradients; towards the bottom,
    or a bright band, exploding ones.

    Args:
        history: keras.callbacks.History or dict. What `model.fit` returned, or its `history` dict.
        ax: matplotlib Axes. Defaults to `None` (a new figure).

    Returns:
        The `Axes` drawn on (its image carries the colour bar).
    """
    import numpy as np

    logs = getattr(history, "history", history)
    names, matrix = _per_layer(logs, "grad_norm")
    ax = _axes(ax)
    with np.errstate(divide="ignore", invalid="ignore"):
        shown = np.log10(matrix)
    image = ax.imshow(shown, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(len(names)), names)
    ax.set_xticks(range(matrix.shape[1]), [str(e + 1) for e in range(matrix.shape[1])])
    ax.set_xlabel("epoch")
    ax.set_ylabel("layer (input → output)")
    ax.figure.colorbar(image, ax=ax, label="log10 mean gradient norm")
    ax.set_title("Gradient norm per layer and epoch")
    return ax


def activation_map(history, layer, ax=None):
    """fastai's "colorful dimension": the histogram of one layer's outputs at each measured epoch, as colour.

    Each column is an epoch measured by `keras_tricks.callbacks.ActivationStats`, each cell a bin of the
    histogram of the layer's outputs on the probe batch, the colour the log of its count. A healthy layer
    keeps a broad, smooth column; mass collapsing onto the bottom row (ReLU zeros) or onto both ends
    (saturated sigmoid or tanh) is the chapter's failure, visible at a glance.

    Args:
        history: list. `ActivationStats(...).history`: `(epoch, stats)` pairs.
        layer: str. The layer's name.
        ax: matplotlib Axes. Defaults to `None` (a new figure).

    Returns:
        The `Axes` drawn on (its image carries the colour bar).
    """
    import numpy as np

    histograms = _layer_histograms(history, layer)
    ax = _axes(ax)
    image = None
    for epoch, histogram in histograms:
        counts = np.log1p(np.asarray(histogram["counts"], dtype="float64"))[:, None]
        image = ax.pcolormesh(
            [epoch + 0.5, epoch + 1.5], histogram["edges"], counts, cmap="magma", shading="flat"
        )
    ax.set_xticks([epoch + 1 for epoch, _ in history])
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"output of {layer}")
    ax.set_title(f"Outputs of {layer} over epochs (colour: log count)")
    ax.figure.colorbar(image, ax=ax, label="log(1 + count)")
    return ax


def diagnosis(history, findings=(), activation_history=None, axes=None):
    """The figure of a diagnosis: per-layer gradient norms and activation statistics, the findings marked.

    Left: `gradient_norm_map`. Right (with `activation_history`, an `ActivationStats` history): the
    fraction of saturated (sigmoid, tanh) or dead (ReLU) outputs of each layer at each measured epoch.
    Each finding of `findings` (a `keras_tricks.diagnostics.Diagnosis`, e.g. `Diagnose(...).findings`) is
    marked at its epoch with its code, those found before training in the title.

    Args:
        history: keras.callbacks.History or dict. The logs of a fit with
            `GradientNormLogger(per_layer=True)`.
        findings: sequence of `Finding`. Defaults to none.
        activation_history: list. `ActivationStats(...).history`. Defaults to `None`.
        axes: sequence of two matplotlib Axes. Defaults to `None` (a new figure).

    Returns:
        The two `Axes` (the second `None` without `activation_history`).
    """

    plt = _pyplot()
    if axes is None:
        columns = 2 if activation_history else 1
        axes = plt.subplots(1, columns, figsize=(6.5 * columns, 4.5), squeeze=False)[1][0]
    gradients_ax = gradient_norm_map(history, ax=axes[0])
    activations_ax = _activation_map(activation_history, axes[1]) if activation_history else None
    before = sorted({f.code for f in findings if f.epoch is None})
    if before:
        gradients_ax.set_title(
            f"{gradients_ax.get_title()}\nbefore training: {', '.join(before)}", fontsize="small"
        )
    # Each code once, where it was first found: a dashed line at the start of that epoch's column.
    firsts = {}
    for finding in findings:
        if finding.epoch is not None:
            firsts.setdefault(finding.code, finding)
    for row, finding in enumerate(firsts.values()):
        for ax in (gradients_ax, activations_ax):
            if ax is not None:
                ax.axvline(finding.epoch - 0.5, color="tab:red", linewidth=1.5, linestyle="--")
        gradients_ax.annotate(
            f"{finding.code} ({finding.severity})",
            (finding.epoch - 0.5, 0),
            xytext=(4, -4 - 13 * row),
            textcoords="offset points",
            va="top",
            fontsize="x-small",
            color="black",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.8, "linewidth": 0},
            annotation_clip=False,
        )
    return gradients_ax, activations_ax


def _activation_map(activation_history, ax):
    """The diagnosis's second panel: each layer's saturated (or dead) fraction per epoch."""
    import numpy as np

    layers = [
        name
        for name, s in activation_history[0][1].items()
        if s.get("saturated") is not None or s.get("dead") is not None
    ]
    epochs = [epoch for epoch, _ in activation_history]
    matrix = np.array(
        [
            [
                stats[name]["saturated"] if stats[name].get("saturated") is not None else stats[name]["dead"]
                for _, stats in activation_history
            ]
            for name in layers
        ],
        dtype="float64",
    )
    image = ax.imshow(matrix, aspect="auto", cmap="Reds", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks(range(len(layers)), layers)
    ax.set_xticks(range(len(epochs)), [str(e + 1) for e in epochs])
    ax.set_xlabel("epoch")
    ax.set_title("Saturated (sigmoid, tanh) or dead (ReLU) outputs")
    ax.figure.colorbar(image, ax=ax, label="fraction of outputs")
    return ax


def _layer_histograms(history, layer):
    """`(epoch, histogram)` of `layer` at each epoch of an `ActivationStats` history.

    Refuses an empty history or a layer it did not measure.
    """
    if not history:
        raise ValueError(f"Expected at least one measured epoch. Received: history={history!r}")
    known = list(history[0][1])
    if layer not in known:
        raise ValueError(
            f"Unknown layer {layer!r}; the statistics have the layers {known}. Received: layer={layer!r}"
        )
    return [(epoch, stats[layer]["histogram"]) for epoch, stats in history]
