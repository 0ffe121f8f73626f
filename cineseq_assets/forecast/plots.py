"""Plots of the forecaster: for the Dagster UI (PNG bytes: learning curves, errors by horizon, the
pooled retention) and for the demo and a film's forecast (matplotlib Figures: a forecast against
what happened, attention, attributions)."""

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


# ------------------------------------------------------------------ the demo's charts (Figures)

def forecast_chart(history: pd.DataFrame, table: pd.DataFrame, origin_week: int, title: str):
    """A film's weekly gross, the forecast from ``origin_week`` (p50, p10-p90 band), the decay
    baseline (when ``table`` has a decay_baseline column) and, where known, what really happened
    after the origin. Log scale."""
    fig = new_figure(8, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    seen = history[history["week"] <= origin_week]
    after = history[history["week"] >= origin_week]
    ax.plot(seen["week"], seen["gross"], marker="o", color="black", label="observed up to the origin")
    if len(after) > 1:
        ax.plot(after["week"], after["gross"], marker="o", color="grey", linestyle=":", label="what really happened")
    band = pd.concat([seen.tail(1).assign(p10=lambda f: f["gross"], p50=lambda f: f["gross"], p90=lambda f: f["gross"],
                                          decay_baseline=lambda f: f["gross"]), table], ignore_index=True)
    ax.fill_between(band["week"], band["p10"], band["p90"], alpha=0.25, color="tab:blue", label="p10-p90")
    ax.plot(band["week"], band["p50"], marker="o", color="tab:blue", label="forecast p50")
    if "decay_baseline" in table:
        ax.plot(band["week"], band["decay_baseline"], linestyle="--", color="tab:orange", label="decay baseline")
    ax.axvline(origin_week, color="grey", alpha=0.4)
    ax.set_yscale("log")
    ax.set_xlabel("week of run")
    ax.set_ylabel("weekly gross ($)")
    ax.set_title(f"{title}: forecast from week {origin_week}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def attention_heatmap(attention, encoder_mask, origin_week: int, title: str = "Attention"):
    """Decoder step (forecast week) x encoder week: where the attention model looked."""
    observed = np.asarray(encoder_mask) > 0
    weights = np.asarray(attention)[:, observed]
    length = len(observed)
    weeks = (origin_week - (length - 1) + np.arange(length))[observed]
    fig = new_figure(7, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(weights, aspect="auto", cmap="viridis", vmin=0)
    ax.set_xticks(range(len(weeks)), [str(w) for w in weeks])
    ax.set_yticks(range(weights.shape[0]), [f"week {origin_week + h + 1}" for h in range(weights.shape[0])])
    ax.set_xlabel("encoder week of run (observed)")
    ax.set_ylabel("forecast week")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="attention weight")
    return fig


def attribution_bars(contributions: pd.DataFrame, title: str, top: int = 15):
    """Signed contribution of each feature (summed over its weeks) to the log p50: red lowers it, blue raises it."""
    rows = contributions.reindex(contributions["attribution"].abs().sort_values(ascending=False).index).head(top)
    rows = rows.iloc[::-1]
    fig = new_figure(8, max(2.5, 0.3 * len(rows) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    labels = [f"{feature} ({block})" for feature, block in zip(rows["feature"], rows["block"])]
    ax.barh(labels, rows["attribution"], color=["tab:blue" if v >= 0 else "tab:red" for v in rows["attribution"]])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("contribution to log(p50 gross) vs the mean-film baseline (Integrated Gradients)")
    ax.set_title(title)
    return fig
