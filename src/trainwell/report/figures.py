"""Figures for the report: matplotlib drawings embedded as SVG data URIs (no network to view).

Each function takes plain numbers and returns a :class:`Figure`; none reads files. Text stays
text in the SVG (``svg.fonttype: none``), which keeps the files small and searchable.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainwell.lasting import preload

PALETTE = ["#0b5cad", "#d4622a", "#2a9d5c", "#8a4fbf", "#b8860b", "#c2185b", "#5f6b7a"]
STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": None,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "trainwell",  # stable ids: the same run gives the same file
}


@dataclass
class Figure:
    """One embedded figure: a data URI, a text alternative and a caption."""

    src: str
    alt: str
    caption: str


@contextmanager
def _axes(ncols: int = 1, width: float = 6.4, height: float = 3.2) -> Iterator[tuple[Any, Any]]:
    # A bare Figure on an Agg canvas, not pyplot: no figure manager to create and close,
    # and nothing global (matplotlib's advice for non-interactive use).
    preload(
        "matplotlib.figure", "matplotlib.backends.backend_agg", "matplotlib.backends.backend_svg"
    )
    from cycler import cycler
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as Drawing

    style: Any = {**STYLE, "axes.prop_cycle": cycler(color=PALETTE)}
    with rc_context(style):
        fig = Drawing(figsize=(width, height), dpi=100)
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, ncols, squeeze=False)
        yield fig, axes[0] if ncols > 1 else axes[0][0]


def plain_log_scale(ax: Any, which: str = "x") -> None:
    """A log scale whose tick labels are plain text ("0.001", "1e-05"), not mathtext.

    matplotlib's default log labels ($10^{-3}$) go through its mathtext parser (pyparsing),
    which cost a third of the report's CPU time on a small run (cProfile, issue 19); the
    plain labels say the same."""
    from matplotlib.ticker import LogFormatter

    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_formatter(LogFormatter(base=10))
    axis.set_minor_formatter(LogFormatter(base=10, labelOnlyBase=False))


def _encode(fig: Any) -> str:
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue().encode()).decode()


def learning_curves(
    epochs: Sequence[dict[str, Any]], best_epoch: int | None, metric: str | None
) -> Figure:
    """Training and validation loss, and the validation metric, per epoch (TW-M01)."""
    x = [int(e["epoch"]) for e in epochs]
    with _axes(2 if metric else 1, width=7.2 if metric else 6.4) as (fig, axes):
        ax_loss = axes[0] if metric else axes
        ax_loss.plot(x, [e.get("train_loss") for e in epochs], label="training loss")
        if any(e.get("val_loss") is not None for e in epochs):
            ax_loss.plot(x, [e.get("val_loss") for e in epochs], label="validation loss")
        panels = [ax_loss]
        if metric:
            ax_metric = axes[1]
            ax_metric.plot(x, [e.get(metric) for e in epochs], color=PALETTE[2])
            ax_metric.set_ylabel(metric.replace("_", " "))
            panels.append(ax_metric)
        for ax in panels:
            if best_epoch:
                ax.axvline(best_epoch, color="grey", linestyle="--", label=f"best ({best_epoch})")
            ax.set_xlabel("epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
        ax_loss.set_ylabel("loss")
        ax_loss.legend(fontsize=8)
        src = _encode(fig)
    where = f"; the dashed line marks the best epoch ({best_epoch}), whose weights were kept"
    return Figure(
        src,
        "Learning curves: training and validation loss per epoch",
        "Loss per epoch on the training and validation splits"
        + (f", and validation {metric.replace('val_', '')}" if metric else "")
        + (where if best_epoch else ""),
    )


def draw_range_test(
    ax: Any,
    lrs: Sequence[float],
    losses: Sequence[float | None],
    smoothed: Sequence[float | None],
    suggestion: float | None,
) -> None:
    """Loss against LR (log scale), raw and smoothed, the suggestion marked (TW-T02); the
    y-axis is set by the descent so the diverging tail does not flatten it."""
    raw = [math.nan if v is None else v for v in losses]
    smooth = [math.nan if v is None else v for v in smoothed]
    ax.plot(lrs, raw, color="0.75", linewidth=1, label="loss per step")
    ax.plot(lrs, smooth, color=PALETTE[0], linewidth=2, label="smoothed")
    if suggestion is not None:
        ax.axvline(suggestion, color=PALETTE[1], linestyle="--", label=f"chosen {suggestion:.2g}")
    finite = [v for v in smooth if math.isfinite(v)]
    if finite:
        lowest = finite.index(min(finite))
        low, high = finite[lowest], max(finite[: lowest + 1])
        span = max(high - low, 1e-12)
        ax.set_ylim(low - 0.1 * span, high + 0.6 * span)
    plain_log_scale(ax, "x")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.legend(loc="upper left", fontsize=8)


def range_test(
    lrs: Sequence[float],
    losses: Sequence[float | None],
    smoothed: Sequence[float | None],
    suggestion: float | None,
    reason: str,
) -> Figure:
    """The learning-rate range test that chose the starting LR."""
    with _axes(height=2.8) as (fig, ax):
        draw_range_test(ax, lrs, losses, smoothed, suggestion)
        src = _encode(fig)
    chosen = f"chosen LR {suggestion:.3g}: " if suggestion is not None else ""
    return Figure(
        src,
        "training loss against learning rate in the range test",
        f"Learning-rate range test (TW-T02): {chosen}{reason}",
    )


def step_series(
    steps: Sequence[int],
    values: Sequence[float | None],
    label: str,
    *,
    log: bool = False,
    hline: float | None = None,
    hline_label: str = "",
    marks: Sequence[tuple[int, str]] = (),
) -> Figure:
    """One value per optimizer step (learning rate, gradient norm) (TW-M03)."""
    pairs = [(s, v) for s, v in zip(steps, values, strict=True) if v is not None]
    with _axes(height=2.6) as (fig, ax):
        if pairs:
            xs, ys = zip(*pairs, strict=True)
            ax.plot(xs, ys, linewidth=1.0)
        if hline is not None:
            ax.axhline(hline, color=PALETTE[1], linestyle=":", label=hline_label)
        for step, text in marks:
            ax.axvline(step, color=PALETTE[5], linestyle="--", label=text)
        if log and pairs and min(v for _, v in pairs) > 0:
            plain_log_scale(ax, "y")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(label)
        if hline is not None or marks:
            ax.legend(fontsize=8)
        src = _encode(fig)
    return Figure(src, f"{label} per optimizer step", f"{label.capitalize()} per optimizer step")


def bars(
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    ylabel: str,
    caption: str,
    horizontal: bool = False,
    errors: Sequence[float] | None = None,
) -> Figure:
    """Grouped bars (class balance per split, metric per group, importances)."""
    n = len(labels)
    height = max(2.4, 0.28 * n + 0.8) if horizontal else 3.0
    with _axes(height=height) as (fig, ax):
        width = 0.8 / max(1, len(series))
        positions = np.arange(n)
        for i, (name, values) in enumerate(series.items()):
            offset = positions + (i - (len(series) - 1) / 2) * width
            err = errors if errors is not None and len(series) == 1 else None
            if horizontal:
                ax.barh(offset, values, height=width, label=name, xerr=err)
            else:
                ax.bar(offset, values, width=width, label=name, yerr=err)
        if horizontal:
            ax.set_yticks(positions, [str(v) for v in labels])
            ax.invert_yaxis()
            ax.set_xlabel(ylabel)
        else:
            ax.set_xticks(positions, [str(v) for v in labels], rotation=30 if n > 6 else 0)
            ax.set_ylabel(ylabel)
        if len(series) > 1:
            ax.legend(fontsize=8)
        src = _encode(fig)
    return Figure(src, caption, caption)


def heatmap(
    matrix: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    caption: str,
    annotate: bool = False,
    limit: float | None = None,
    cmap: str = "RdBu_r",
) -> Figure:
    """A colour grid: a confusion matrix (annotated) or preprocessed inputs (clipped)."""
    rows, cols = matrix.shape
    width = min(7.2, max(3.6, 0.22 * cols + 2.0))
    height = min(6.0, max(2.6, 0.2 * rows + 1.4))
    with _axes(width=width, height=height) as (fig, ax):
        values = np.clip(matrix, -limit, limit) if limit is not None else matrix
        image = ax.imshow(
            values,
            aspect="auto",
            cmap=cmap,
            vmin=-limit if limit is not None else None,
            vmax=limit,
            interpolation="nearest",
        )
        ax.grid(False)
        if cols <= 40:
            ax.set_xticks(range(cols), [str(c) for c in col_labels], rotation=90, fontsize=6)
        else:
            ax.set_xlabel(f"{cols} input features")
        if rows <= 30:
            ax.set_yticks(range(rows), [str(r) for r in row_labels], fontsize=7)
        if annotate:
            top = matrix.max() if matrix.size else 0
            for i in range(rows):
                for j in range(cols):
                    color = "white" if matrix[i, j] > top / 2 else "black"
                    ax.text(j, i, f"{matrix[i, j]:g}", ha="center", va="center", color=color)
        fig.colorbar(image, ax=ax, fraction=0.04)
        src = _encode(fig)
    return Figure(src, caption, caption)


def curves(
    lines: dict[str, tuple[Any, Any]],
    *,
    xlabel: str,
    ylabel: str,
    caption: str,
    diagonal: bool = False,
    scatter: bool = False,
    hline: float | None = None,
) -> Figure:
    """Lines or scatter plots: ROC, precision-recall, calibration, predicted vs actual."""
    with _axes(width=4.6, height=3.6) as (fig, ax):
        lows, highs = [], []
        for name, (x, y) in lines.items():
            if scatter:
                ax.scatter(x, y, s=10, alpha=0.6, label=name)
            else:
                ax.plot(x, y, marker="o" if len(x) <= 15 else None, markersize=3, label=name)
            if len(x):
                lows.append(min(np.min(x), np.min(y)))
                highs.append(max(np.max(x), np.max(y)))
        if diagonal and lows:
            lo, hi = min(lows), max(highs)
            ax.plot([lo, hi], [lo, hi], color="grey", linestyle=":", linewidth=1)
        if hline is not None:
            ax.axhline(hline, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if len(lines) > 1 or not scatter:
            ax.legend(fontsize=7)
        src = _encode(fig)
    return Figure(src, caption, caption)
