"""PNG charts of the decay fits (matplotlib, Agg canvas; every function returns PNG bytes).

Figures are built with ``matplotlib.figure.Figure`` and an explicit Agg canvas instead of pyplot:
no global backend switch, no figure registry to leak from a long-running process, and only the
DejaVu fonts that ship with matplotlib.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from ..plotting import new_figure, to_png
from .diagnostics import UNKNOWN, release_width

WINDOW_LABELS = {"run": "whole usable run", "weeks_1_8": "weeks 1-8"}
TOP_GENRES = 12


def r2_histogram(fits: pd.DataFrame, window: str) -> bytes:
    """Histogram of per-film R^2 of the log-linear decay fit in ``window``."""
    r2 = fits.loc[fits["window"] == window, "r2"].dropna()
    fig, ax = _figure(7, 4.5)
    ax.hist(r2, bins=np.linspace(0, 1, 41), color="#4C72B0", edgecolor="white")
    ax.axvline(0.9, color="#C44E52", linestyle="--", label="R² = 0.9")
    if len(r2):
        ax.axvline(r2.median(), color="black", label=f"median {r2.median():.2f}")
    ax.set(
        title=f"How well exponential decay fits each film ({_window_label(window)}, {len(r2)} films)",
        xlabel="R² of log(weekly gross) on week",
        ylabel="Films",
        xlim=(0, 1),
    )
    ax.legend(loc="upper left")
    return _png(fig)


def half_life_by_genre(fits: pd.DataFrame, films: pd.DataFrame, window: str = "run") -> bytes:
    """Box plot of half-life per genre: the TOP_GENRES most common genres, ordered by median.

    Films that do not decay (infinite half-life) cannot be drawn; their count is in the title.
    """
    data = _fits_with_films(fits, films, window)
    genres = data.assign(genre=data["genres"].fillna("").astype(str).str.split("|")).explode("genre")
    genres["genre"] = genres["genre"].str.strip().replace("", UNKNOWN)
    genres = genres.drop_duplicates(["film_id", "genre"])
    top = genres["genre"].value_counts().head(TOP_GENRES).index
    finite = genres[genres["genre"].isin(top) & np.isfinite(genres["half_life_weeks"])]
    order = finite.groupby("genre")["half_life_weeks"].median().sort_values().index
    n_rising = int(np.isinf(data["half_life_weeks"]).sum())

    fig, ax = _figure(10, 5.5)
    groups = [finite.loc[finite["genre"] == genre, "half_life_weeks"].to_numpy() for genre in order]
    if groups:
        ax.boxplot(groups, tick_labels=list(order), showfliers=True, flierprops={"markersize": 2})
    ax.set_yscale("log")  # half-lives are skewed: most near 1-2 weeks, platform releases far longer
    _plain_log_labels(ax)
    ax.tick_params(axis="x", labelrotation=35)
    ax.set(
        title=f"Half-life of weekly gross by genre ({_window_label(window)}; {n_rising} non-decaying films not shown)",
        xlabel="Genre (top by film count, ordered by median half-life)",
        ylabel="Half-life (weeks, log scale)",
    )
    return _png(fig)


def film_fit_plot(weeks: pd.DataFrame, fit_row: pd.Series | dict, title: str) -> bytes:
    """Left: weekly gross (log axis) with the fitted decay line; right: residual ACF with 95% band."""
    fig = new_figure(12, 4.5)
    gross_ax, acf_ax = fig.subplots(1, 2, width_ratios=[3, 2])
    _draw_gross_and_fit(gross_ax, weeks, fit_row)
    _draw_residual_acf(acf_ax, fit_row)
    fig.suptitle(title)
    return _png(fig)


def r2_by_width(fits: pd.DataFrame, films: pd.DataFrame) -> bytes:
    """Box plots of per-film R^2 for wide vs limited openers, side by side for each window."""
    fig, ax = _figure(8, 5)
    widths = ["wide", "limited"]
    colors = {"run": "#4C72B0", "weeks_1_8": "#DD8452"}
    for offset, window in zip((-0.18, 0.18), ("run", "weeks_1_8")):
        data = _fits_with_films(fits, films, window)
        data["width"] = release_width(data)
        groups = [data.loc[data["width"] == width, "r2"].dropna().to_numpy() for width in widths]
        positions = [i + offset for i in range(len(widths))]
        boxes = ax.boxplot(
            groups, positions=positions, widths=0.3, patch_artist=True, showfliers=False,
            medianprops={"color": "black"},
        )
        for box in boxes["boxes"]:
            box.set_facecolor(colors[window])
        boxes["boxes"][0].set_label(_window_label(window))
    counts = _fits_with_films(fits, films, "run").pipe(release_width).value_counts()
    ax.set_xticks(range(len(widths)), [f"{width}\n({counts.get(width, 0)} films)" for width in widths])
    ax.axhline(0.9, color="grey", linestyle=":", linewidth=1)
    ax.set(
        title="Exponential-decay fit quality by release width",
        xlabel="Opening (wide: at least 2,000 theaters in week 1)",
        ylabel="R² of log(weekly gross) on week",
        ylim=(0, 1.02),
    )
    ax.legend(loc="lower left")
    return _png(fig)


def _draw_gross_and_fit(ax, weeks: pd.DataFrame, fit_row) -> None:
    observed = weeks[weeks["gross"] > 0]
    ax.plot(observed["week"], observed["gross"] / 1e6, "o-", color="#4C72B0", label="weekly gross")
    fit_weeks, fitted = list(fit_row["weeks"]), np.asarray(fit_row["fitted"], dtype=float)
    if len(fit_weeks):
        label = f"fit: ×{fit_row['weekly_retention']:.2f}/week, R² {fit_row['r2']:.2f}"
        ax.plot(fit_weeks, np.exp(fitted) / 1e6, "-", color="#C44E52", linewidth=2, label=label)
    ax.set_yscale("log")
    _plain_log_labels(ax)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # weeks are whole numbers
    ax.set(
        title=f"Weekly gross and log-linear decay ({_window_label(fit_row['window'])})",
        xlabel="Week of release",
        ylabel="Weekly gross (million USD, log scale)",
    )
    ax.legend(loc="upper right")


def _draw_residual_acf(ax, fit_row) -> None:
    acf_values = np.asarray(fit_row["acf"], dtype=float)
    ax.set(title="Autocorrelation of fit residuals", xlabel="Lag (weeks)", ylabel="ACF")
    if len(acf_values) < 2:
        ax.text(0.5, 0.5, "too few weeks for a correlogram", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    lags = np.arange(1, len(acf_values))
    # statsmodels centres the bounds on each estimate; the band around zero is their half-width.
    half_width = np.asarray(fit_row["acf_confint_high"], dtype=float)[1:] - acf_values[1:]
    ax.fill_between(lags, -half_width, half_width, color="#4C72B0", alpha=0.2, step="mid", label="95% band")
    ax.bar(lags, acf_values[1:], width=0.3, color="#4C72B0")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(lags)
    ax.set_ylim(-1.05, 1.05)
    ax.legend(loc="upper right")


def _fits_with_films(fits: pd.DataFrame, films: pd.DataFrame, window: str) -> pd.DataFrame:
    columns = [c for c in ("film_id", "genres", "release_width", "opening_theaters") if c in films]
    selected = fits.loc[(fits["window"] == window) & fits["r2"].notna()]
    merged = selected.merge(films[columns].drop_duplicates("film_id"), on="film_id", how="left")
    if "genres" not in merged:
        merged["genres"] = None
    return merged


def _plain_log_labels(ax) -> None:
    """Log y axis labelled 0.1, 1, 10 rather than 10^x; minor ticks labelled only on short ranges.

    Over two decades or more the minor labels would overlap, and the decades suffice.
    """
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    low, high = ax.get_ylim()
    short_range = low > 0 and np.log10(high / low) < 2
    ax.yaxis.set_minor_formatter(plain if short_range else NullFormatter())


def _window_label(window: str) -> str:
    return WINDOW_LABELS.get(window, window)


def _figure(width: float, height: float):
    fig = new_figure(width, height)
    return fig, fig.add_subplot()


def _png(fig: Figure) -> bytes:
    return to_png(fig)
