"""Plots of the forecaster: for the Dagster UI (PNG bytes: learning curves, errors by horizon, the
pooled retention) and each film's fan chart (SVG: a forecast against what happened). The demo's
interactive charts are plotly figures (demo/charts.py)."""

from __future__ import annotations

from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from ..plotting import new_figure, to_png


def learning_curves(histories: dict[str, list[dict]]) -> bytes:
    """Validation WAPE per epoch of each trained architecture."""
    fig = new_figure(6, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    for name, history in histories.items():
        ax.plot([h["epoch"] for h in history], [h["validation_wape"] for h in history], marker=".", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation WAPE (dollars)")
    ax.set_title("Learning curves (validation films)")
    ax.grid(alpha=0.3)
    ax.legend()
    return to_png(fig)


def wape_by_horizon(errors: pd.DataFrame, split_kind: str = "by_film") -> bytes:
    """Test WAPE (mean over seeds, bars = std) per horizon week for every model."""
    rows = errors[(errors["split_kind"] == split_kind) & (errors["grouping"] == "horizon")]
    stats = rows.groupby(["model", "group"])["wape"].agg(["mean", "std"]).reset_index()
    # A model far off the scale (the naive forecast's WAPE reaches 5) would flatten the others.
    off_scale = sorted(stats.loc[stats["mean"] > 1.0, "model"].unique())
    stats = stats[~stats["model"].isin(off_scale)]
    fig = new_figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    models = sorted(stats["model"].unique(), key=lambda m: stats.loc[stats["model"] == m, "mean"].mean())
    for model in models:
        part = stats[stats["model"] == model].sort_values("group")
        ax.errorbar(part["group"].astype(int), part["mean"], yerr=part["std"].fillna(0), marker="o", capsize=3, label=model)
    ax.set_xlabel("horizon (weeks ahead)")
    ax.set_ylabel("test WAPE (dollars)")
    note = f"; off the scale: {', '.join(off_scale)}" if off_scale else ""
    ax.set_title(f"Test WAPE by horizon ({split_kind.replace('_', ' ')} split{note})")
    ax.set_xticks([1, 2, 3, 4])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return to_png(fig)


def pooled_retention(table: dict[str, list[float]]) -> bytes:
    """The decay prior's pooled week-of-run retention (training films)."""
    fig = new_figure(6, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    for name, values in table.items():
        weeks = np.arange(1, len(values) + 1)
        ax.plot(weeks, np.exp(values), marker=".", label=name)
    ax.set_xlabel("week of run w")
    ax.set_ylabel("median gross[w+1] / gross[w]")
    ax.set_title("Pooled retention (training films)")
    ax.grid(alpha=0.3)
    ax.legend()
    return to_png(fig)


# ------------------------------------------------------------------ a film's fan chart (SVG)

# A fan chart on every film partition's materialization: matplotlib takes ~60 ms a PNG, three minutes over
# the bundled catalog, so this small chart is drawn as SVG text (well under a millisecond, ~3 KB).
SVG_WIDTH, SVG_HEIGHT = 520, 250
SVG_MARGIN = {"left": 62, "right": 12, "top": 36, "bottom": 34}


def fan_chart_svg(history: pd.DataFrame, forecast: pd.DataFrame, origin_week: int, title: str) -> bytes:
    """A film's weekly gross up to ``origin_week`` (black), the forecast's p10-p90 band and p50 (blue), the
    decay baseline (orange, dashed, when ``forecast`` has it) and the weeks after the origin where known
    (grey, dotted); log scale. ``history``: week, gross; ``forecast``: week, p10, p50, p90[, decay_baseline]."""
    weeks, gross = history["week"].to_numpy(float), history["gross"].to_numpy(float)
    seen, after = weeks <= origin_week, weeks >= origin_week
    ahead = np.concatenate([weeks[seen][-1:], forecast["week"].to_numpy(float)])  # curves start at the last observed week

    def from_origin(column: str) -> np.ndarray:
        return np.concatenate([gross[seen][-1:], forecast[column].to_numpy(float)])

    values = np.concatenate([gross, *(forecast[column].to_numpy(float) for column in ("p10", "p50", "p90"))])
    scale = _SvgScale(int(max(weeks.max(), ahead.max())), values[values > 0])
    band = scale.points(ahead, from_origin("p90")) + scale.points(ahead, from_origin("p10"))[::-1]
    parts = [*scale.axes(), f'<polygon points="{" ".join(band)}" fill="#1f77b4" fill-opacity="0.22"/>']
    legend = ["black: observed", "blue: p50 and p10-p90"]
    if "decay_baseline" in forecast:
        parts.append(_polyline(scale.points(ahead, from_origin("decay_baseline")), "#ff7f0e", 'stroke-dasharray="5 3"'))
        legend.append("orange: decay baseline")
    if after.sum() > 1:
        parts.append(_polyline(scale.points(weeks[after], gross[after]), "#888888", 'stroke-dasharray="2 3"'))
        legend.append("grey: actual")
    parts += [_polyline(scale.points(ahead, from_origin("p50")), "#1f77b4"),
              _polyline(scale.points(weeks[seen], gross[seen]), "#222222", markers=True)]
    left = SVG_MARGIN["left"]
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_WIDTH}" height="{SVG_HEIGHT}" '
           f'font-family="DejaVu Sans, Arial, sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/>'
           f'<text x="{left}" y="14" font-size="12">{escape(f"{title}: forecast from week {origin_week}")}</text>'
           f'<text x="{left}" y="28" font-size="10" fill="#555555">{escape("; ".join(legend))}</text>{"".join(parts)}</svg>')
    return svg.encode()


class _SvgScale:
    """Weeks 1..``last_week`` across, dollars (log) up, inside the chart's margins."""

    def __init__(self, last_week: int, positive: np.ndarray):
        low, high = (float(positive.min()), float(positive.max())) if len(positive) else (1.0, 10.0)
        self.low, self.high = np.log10(low) - 0.05, np.log10(max(high, low * 10)) + 0.05
        self.last_week = max(last_week, 2)
        self.left, self.top = SVG_MARGIN["left"], SVG_MARGIN["top"]
        self.width = SVG_WIDTH - SVG_MARGIN["left"] - SVG_MARGIN["right"]
        self.height = SVG_HEIGHT - SVG_MARGIN["top"] - SVG_MARGIN["bottom"]

    def x(self, week: float) -> float:
        return self.left + self.width * (week - 1) / (self.last_week - 1)

    def y(self, dollars: float) -> float:
        level = np.log10(max(dollars, 10 ** self.low))  # zero and below sit on the floor of a log axis
        return self.top + self.height * (self.high - level) / (self.high - self.low)

    def points(self, weeks: np.ndarray, dollars: np.ndarray) -> list[str]:
        """"x,y" of each known value (a missing week leaves a gap in the count, not a zero)."""
        known = ~np.isnan(dollars)
        return [f"{self.x(week):.1f},{self.y(value):.1f}" for week, value in zip(weeks[known], dollars[known])]

    def axes(self) -> list[str]:
        """Decade grid lines with dollar labels, week ticks, the axis titles."""
        bottom = self.top + self.height
        frame = f'x="{self.left}" y="{self.top}" width="{self.width}" height="{self.height}"'
        parts = [f'<rect {frame} fill="none" stroke="#bbbbbb"/>']
        for decade in range(int(np.ceil(self.low)), int(np.floor(self.high)) + 1):
            y = self.y(10.0 ** decade)
            parts.append(f'<line x1="{self.left}" x2="{self.left + self.width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                         f'<text x="{self.left - 4}" y="{y + 4:.1f}" text-anchor="end">{_dollars(10.0 ** decade)}</text>')
        step = max(1, int(np.ceil(self.last_week / 12)))
        for week in range(1, self.last_week + 1, step):
            parts.append(f'<text x="{self.x(week):.1f}" y="{bottom + 14}" text-anchor="middle">{week}</text>')
        parts.append(f'<text x="{self.left + self.width / 2:.0f}" y="{SVG_HEIGHT - 4}" text-anchor="middle">week of run</text>')
        return parts


def _polyline(points: list[str], colour: str, style: str = "", markers: bool = False) -> str:
    line = f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="1.8" {style}/>'
    if markers:
        line += "".join(f'<circle cx="{point.split(",")[0]}" cy="{point.split(",")[1]}" r="2.5" fill="{colour}"/>'
                        for point in points)
    return line


def _dollars(value: float) -> str:
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"${value / size:g}{unit}"
    return f"${value:g}"
