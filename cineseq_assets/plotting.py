"""Shared matplotlib plumbing: figures on an explicit Agg canvas, returned as PNG bytes.

No pyplot: no global backend switch, no figure registry to leak from a long-running process, and
only the DejaVu fonts that ship with matplotlib (nothing is downloaded).
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
