"""Forecast tables in dollars from a trained model (PyTorch or onnxruntime) and panel rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..dask_engine import BatchCompute, require_input
from ..errors import FilmDataError
from .features import HORIZON
from .final_total import FinalTotalModel, gross_to_date, product_totals
from .windows import Windows, build_windows

FORECAST_COLUMNS = ["film_id", "origin_week", "horizon", "week", "week_start", "release_width",
                    "p10", "p50", "p90", "actual", "kind"]


def forecast_frame(windows: Windows, log_quantiles: np.ndarray, kind: str) -> pd.DataFrame:
    """One row per window and horizon: quantiles and the actual (NaN when not observed), in dollars."""
    n = len(windows)
    horizon = np.tile(np.arange(1, HORIZON + 1), n)
    origin = np.repeat(windows.origin, HORIZON)
    observed = windows.target_mask.reshape(-1) > 0
    dollars = np.expm1(log_quantiles.reshape(-1, 3).astype(float))
    return pd.DataFrame({
        "film_id": np.repeat(windows.film_id, HORIZON).astype(str),
        "origin_week": origin,
        "horizon": horizon,
        "week": origin + horizon,
        "week_start": np.repeat(windows.origin_week_start, HORIZON) + pd.to_timedelta(7 * horizon, unit="D"),
        "release_width": np.where(np.repeat(windows.wide, HORIZON), "wide", "limited"),
        "p10": dollars[:, 0], "p50": dollars[:, 1], "p90": dollars[:, 2],
        "actual": np.where(observed, np.expm1(windows.target.reshape(-1)), np.nan),
        "kind": kind,
    })[FORECAST_COLUMNS]


def film_forecasts(model, panel: pd.DataFrame, trailers: pd.DataFrame | None = None,
                   backtest: bool = True) -> pd.DataFrame:
    """The live forecast (from each film's last observed week) and, optionally, the backtest
    from every earlier origin, for every film in ``panel``.

    ``model`` is anything with ``predict(windows)`` and ``pooled``/``train_config`` attributes
    (a TrainedModel or an OnnxForecaster).
    """
    return forecasts_and_totals(model, panel, None, trailers, backtest)[0]


def forecasts_and_totals(model, panel: pd.DataFrame, final: FinalTotalModel | None, trailers: pd.DataFrame | None = None,
                         backtest: bool = True) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(``film_forecasts``' table, the final domestic total of the same films and origins in
    ``final_total.FINAL_COLUMNS`` plus ``kind``; None without a ``final`` model), from one forward pass."""
    config = model.train_config
    windows = build_windows(panel, config.encoder_length, trailers=trailers, min_targets=0)
    windows = windows.with_prior(model.pooled, config.prior)
    quantiles, _ = model.predict(windows)
    last = windows.is_last_origin()
    kept = np.ones(len(windows), dtype=bool) if backtest else last
    frames = [forecast_frame(windows.subset(last), quantiles[last], "live")]
    if backtest:
        earlier = ~last
        if earlier.any():
            frames.append(forecast_frame(windows.subset(earlier), quantiles[earlier], "backtest"))
    forecasts = pd.concat(frames, ignore_index=True).sort_values(["film_id", "kind", "origin_week", "horizon"],
                                                                 ignore_index=True)
    if final is None:
        return forecasts, None
    kept_windows = windows.subset(kept)
    to_date = gross_to_date(panel, kept_windows.film_id, kept_windows.origin)
    totals = product_totals(kept_windows.film_id, kept_windows.origin, kept_windows.wide, to_date,
                            np.expm1(quantiles[kept].astype(float)), model.pooled, final)
    totals["kind"] = np.where(last[kept], "live", "backtest")
    return forecasts, totals.sort_values(["film_id", "kind", "origin_week"], ignore_index=True)



def forecasts_with_totals(model, panel: pd.DataFrame, final: FinalTotalModel | None,
                          trailers: pd.DataFrame | None = None) -> pd.DataFrame:
    """``forecasts_and_totals`` as one table: each (film, origin, kind)'s final total repeated on its horizon rows."""
    forecasts, totals = forecasts_and_totals(model, panel, final, trailers)
    if totals is None:
        return forecasts
    return forecasts.merge(totals.drop(columns=["final_tail"]), on=["film_id", "origin_week", "kind"], how="left")


@dataclass
class ServingModelTask(BatchCompute):
    """A task over batches of the run's films with the serving model, which each worker loads once from
    ``weights`` (a path every worker reads) on first use: sessions and boosters do not pickle."""

    weights: str
    panel: pd.DataFrame  # the run's films' weekly panels
    trailers: pd.DataFrame | None = None
    _loaded: tuple | None = field(default=None, init=False, repr=False)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_loaded": None}

    def model(self) -> tuple:
        """(model, final-total model or None)."""
        if self._loaded is None:
            from .store import load_final_total, load_model

            weights = require_input(self.weights, "(every film)", "the serving forecast model")
            self._loaded = load_model(weights)[0], load_final_total(weights)
        return self._loaded

    def rows_of(self, films: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """The films' panel rows and trailer rows."""
        rows = self.panel[self.panel["film_id"].isin(films)]
        return rows, None if self.trailers is None else self.trailers[self.trailers["film_id"].isin(films)]

    @staticmethod
    def by_film(films: Sequence[str], results: dict[str, object]) -> dict[str, object]:
        """``results`` for every film; a film without any is failed, naming the input it lacks."""
        return {film: results[film] if film in results else
                FilmDataError(film, "has no stored weekly_panel partition", fix="Materialize weekly_panel for this film first.")
                for film in films}


class FilmForecastTask(ServingModelTask):
    """The ``forecasts`` task: each batch of films in one forward pass (batching makes a film about 4x cheaper)."""

    def compute_many(self, films: Sequence[str]) -> dict[str, object]:
        rows, trailers = self.rows_of(films)
        if not len(rows):
            return self.by_film(films, {})
        model, final = self.model()
        table = forecasts_with_totals(model, rows, final, trailers)
        return self.by_film(films, {film: part.reset_index(drop=True) for film, part in table.groupby("film_id", sort=False)})
