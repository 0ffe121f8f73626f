"""One film's forecast from one origin week: the table a page shows, its history, decay baseline and
the film's backtest errors (from every origin whose weeks are known)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from ..final_total import gross_to_date, product_total_columns
from ..metrics import errors_by_horizon
from ..windows import Windows, build_windows
from .model import ServedModel

FORECAST_TABLE_COLUMNS = ["week", "week_start", "p10", "p50", "p90", "decay_baseline", "actual"]
HISTORY_COLUMNS = ["week", "week_start", "gross", "theaters"]
ERROR_COLUMNS = ["horizon", "forecasts", "mae", "wape", "inside_p10_p90"]


@dataclass(eq=False)
class FilmPanel:
    """One film's panel rows, with what each of its forecasts reads whatever the origin week."""

    rows: pd.DataFrame  # the film's panel rows, by week
    film_id: str
    title: str
    to_date: np.ndarray  # [week - 1]: the gross through each week of the run (``final_total.gross_to_date``)

    @classmethod
    def of(cls, panel: pd.DataFrame) -> "FilmPanel":
        """The FilmPanel of a one-film panel."""
        return next(iter(film_panels(panel).values()))

    @cached_property
    def history(self) -> pd.DataFrame:
        """HISTORY_COLUMNS, every observed week: made on first use (the JSON API does not read it)."""
        return self.rows[HISTORY_COLUMNS]


def film_panels(panel: pd.DataFrame) -> dict[str, FilmPanel]:
    """film_id -> the FilmPanel of every film in ``panel``, computed for the whole panel at once: pandas calls
    on one film's few rows of the wide panel cost more than all the arithmetic of a forecast."""
    if not len(panel):
        return {}
    panel = panel.sort_values(["film_id", "week"], ignore_index=True)
    film_ids = panel["film_id"].astype(str).to_numpy()
    to_date = gross_to_date(panel, film_ids, panel["week"].to_numpy(dtype=int))
    titles = panel["title"].to_numpy()
    starts = np.flatnonzero(np.r_[True, film_ids[1:] != film_ids[:-1]])
    ends = np.r_[starts[1:], len(panel)]
    return {str(film_ids[a]): FilmPanel(panel.iloc[a:b].reset_index(drop=True), str(film_ids[a]), str(titles[a]),
                                        to_date[a:b]) for a, b in zip(starts, ends)}


@dataclass
class FilmForecast:
    """One film's forecast from one origin week, with its history, baseline and backtest errors."""

    film_id: str
    title: str
    origin_week: int
    last_week: int  # the latest observed week: the live forecast's origin
    film: FilmPanel = field(repr=False)  # the film's panel rows (its ``history``)
    columns: dict[str, np.ndarray]  # FORECAST_TABLE_COLUMNS -> the 4 forecast weeks' values: ``table`` as arrays
    window: Windows  # the one window forecast (for explanations)
    attention: np.ndarray | None  # [H, L] attention weights, None without attention
    model: ServedModel
    timing_ms: dict  # "model": the network's forward pass, "forecast": windows + network + tables
    final_total: dict | None = None  # final_total.FINAL_COLUMNS from this origin (None: the model has no final-total model)
    every_origin: Windows | None = field(default=None, repr=False)  # every origin's windows (no prior yet), for errors

    @property
    def live(self) -> bool:
        return self.origin_week == self.last_week

    @property
    def history(self) -> pd.DataFrame:
        """HISTORY_COLUMNS, every observed week."""
        return self.film.history

    @cached_property
    def table(self) -> pd.DataFrame:
        """FORECAST_TABLE_COLUMNS, the 4 forecast weeks (actual NaN where unknown). Made on first use: the
        JSON API reads ``columns``, and a frame costs more than the rest of a forecast's tables."""
        return pd.DataFrame(self.columns, columns=FORECAST_TABLE_COLUMNS)

    @cached_property
    def errors(self) -> pd.DataFrame:
        """The film's backtest errors per horizon over every origin with actuals (``film_errors``). Made on first
        use, by this forecast's model: it runs on every origin for them, which an API answer does not need."""
        config = self.model.model.train_config
        windows = self.every_origin.with_prior(self.model.model.pooled, config.prior)
        quantiles, _ = self.model.runner.predict(windows)
        actual = np.where(windows.target_mask > 0, np.expm1(windows.target.astype(float)), np.nan)
        return film_errors(np.expm1(quantiles.astype(float)), actual)


def forecast_panel(panel: pd.DataFrame | FilmPanel, served: ServedModel, origin_week: int | None = None,
                   windows: Windows | None = None) -> FilmForecast:
    """Forecast one film's panel rows (or its ``FilmPanel``) from ``origin_week`` (None or 0: the latest
    week) with ``served``. ``windows`` (the film's windows from every origin, ``build_windows(panel,
    min_targets=0)``) may be given when the caller has them already.
    """
    started = time.perf_counter()
    film = panel if isinstance(panel, FilmPanel) else FilmPanel.of(panel)
    model = served.model
    config = model.train_config
    if windows is None:
        windows = build_windows(film.rows, config.encoder_length, min_targets=0)
    last_week = int(windows.origin.max())
    origin = last_week if not origin_week else int(origin_week)
    if not 1 <= origin <= last_week:
        raise ValueError(f"origin week {origin} is outside this film's run: choose 1 to {last_week} "
                         f"(0 = the latest week, {last_week})")
    # Only the origin's window runs (the network, the booster, the final total): this runs on every request,
    # and the backtest errors, which need every origin, are made when asked for (FilmForecast.errors).
    window = windows.subset([int(np.flatnonzero(windows.origin == origin)[0])]).with_prior(model.pooled, config.prior)
    model_started = time.perf_counter()
    quantiles, attention = served.runner.predict(window)
    model_ms = 1000 * (time.perf_counter() - model_started)
    dollars = np.expm1(quantiles.astype(float))  # [1, H, 3]
    final = None
    if served.final_total is not None:
        to_date = film.to_date[window.origin - 1]
        columns = product_total_columns(window.film_id, window.origin, window.wide, to_date, dollars, model.pooled,
                                        served.final_total)
        final = {name: values if isinstance(values, str) else values[0].item() for name, values in columns.items()}
    return FilmForecast(
        film_id=film.film_id, title=film.title, origin_week=origin, last_week=last_week, film=film,
        columns=_table_columns(window, dollars), window=window, attention=None if attention is None else attention[0],
        model=served, timing_ms={"model": model_ms, "forecast": 1000 * (time.perf_counter() - started)},
        final_total=final, every_origin=windows)


def _table_columns(window: Windows, dollars: np.ndarray) -> dict[str, np.ndarray]:
    """The forecast table of one window (``dollars`` [1, H, 3]) as FORECAST_TABLE_COLUMNS -> [H] values."""
    steps = np.arange(1, dollars.shape[1] + 1)
    return {
        "week": window.origin[0] + steps,
        "week_start": window.origin_week_start[0] + steps * np.timedelta64(7, "D"),
        "p10": dollars[0, :, 0], "p50": dollars[0, :, 1], "p90": dollars[0, :, 2],
        "decay_baseline": np.expm1(window.prior[0].astype(float)),
        "actual": np.where(window.target_mask[0] > 0, np.expm1(window.target[0].astype(float)), np.nan),
    }


def film_errors(dollars: np.ndarray, actual: np.ndarray) -> pd.DataFrame:
    """MAE and WAPE of a film's backtest per horizon (and overall, "all") over the origins whose weeks are
    known, and the share inside [p10, p90]: ``metrics.errors_by_horizon`` in the page's ERROR_COLUMNS.

    ``dollars`` [N, H, 3] are the p10/p50/p90 of every origin, ``actual`` [N, H] the gross (NaN: unknown).
    """
    return pd.DataFrame([{"horizon": row["horizon"], "forecasts": row["n"], "mae": row["mae"], "wape": row["wape"],
                          "inside_p10_p90": row["coverage_80"]} for row in errors_by_horizon(dollars, actual)],
                        columns=ERROR_COLUMNS)
