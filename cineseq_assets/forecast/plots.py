"""Plots of the forecaster for the Dagster UI: learning curves, errors by horizon, one film's fan."""

from __future__ import annotations

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


def film_fan(history: pd.DataFrame, forecast: pd.DataFrame, title: str) -> bytes:
    """Observed weekly gross and the live forecast's p50 with its p10-p90 band (log scale)."""
    fig = new_figure(6, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(history["week"], history["gross"], marker="o", color="black", label="observed")
    live = forecast[forecast["kind"] == "live"].sort_values("week")
    ax.fill_between(live["week"], live["p10"], live["p90"], alpha=0.3, label="p10-p90")
    ax.plot(live["week"], live["p50"], marker="o", label="p50")
    ax.set_yscale("log")
    ax.set_xlabel("week of run")
    ax.set_ylabel("weekly gross ($)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
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
