"""PNG plots for the HTML report (matplotlib's Agg canvas, no pyplot global state)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_DPI = 100


def data_uri(png: bytes) -> str:
    """`data:image/png;base64,…` for an <img src>."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def layer_ticks_png(layer_ticks: Sequence[tuple[str, float]], unit: str) -> bytes:
    """Horizontal bar chart of mean ticks per layer, in execution order."""
    names = [name for name, _ in layer_ticks]
    values = [value for _, value in layer_ticks]
    figure = _figure(8, max(2.0, 0.28 * len(names) + 1.0))
    axes = figure.add_subplot()
    axes.barh(range(len(names)), values, color="#3b6ea5")
    axes.set_yticks(range(len(names)), names, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel(f"mean {unit} per inference")
    axes.set_title("Per-layer cost")
    return _png(figure)


def memory_timeline_png(timeline: Sequence[tuple[str, int]], arena_bytes: int | None = None) -> bytes:
    """Live activation bytes while each layer runs, with the arena size as a line."""
    names = [name for name, _ in timeline]
    live = [int(size) for _, size in timeline]
    figure = _figure(8, 3.2)
    axes = figure.add_subplot()
    axes.bar(range(len(names)), live, color="#5a9e6f")
    if arena_bytes:
        axes.axhline(arena_bytes, color="#b03a2e", linestyle="--", label=f"arena {arena_bytes:,} B")
        axes.legend(loc="upper right", fontsize=8)
    axes.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    axes.set_ylabel("live bytes")
    axes.set_title("Memory timeline")
    return _png(figure)


def confusion_png(matrix: Sequence[Sequence[int]], class_names: Sequence[str] | None = None) -> bytes:
    """Confusion matrix (rows: true class, columns: device prediction) with counts."""
    counts = np.asarray(matrix, dtype=np.int64)
    size = counts.shape[0]
    names = list(class_names or [])[:size] + [str(i) for i in range(len(class_names or []), size)]
    figure = _figure(max(4.0, 0.45 * size + 2.0), max(3.5, 0.45 * size + 1.5))
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes, shrink=0.8)
    axes.set_xticks(range(size), names, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(size), names, fontsize=8)
    axes.set_xlabel("predicted (device)")
    axes.set_ylabel("true")
    if size <= 20:
        threshold = counts.max() / 2 if counts.size else 0
        for (row, col), value in np.ndenumerate(counts):
            colour = "white" if value > threshold else "black"
            axes.text(col, row, str(value), ha="center", va="center", fontsize=7, color=colour)
    axes.set_title("Confusion matrix")
    return _png(figure)


def error_histogram_png(edges: Sequence[float], counts: Sequence[int]) -> bytes:
    """Histogram of (device − float) output errors over all samples and elements."""
    edges_array = np.asarray(edges, dtype=np.float64)
    figure = _figure(6, 3.2)
    axes = figure.add_subplot()
    axes.stairs(np.asarray(counts), edges_array, fill=True, color="#8e6bb0")
    axes.set_xlabel("device − float (dequantized output)")
    axes.set_ylabel("elements")
    axes.set_title("Device vs float error")
    return _png(figure)
