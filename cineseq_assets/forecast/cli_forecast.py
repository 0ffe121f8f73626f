"""Forecast every film of a user's box office file: the code behind ``cineseq forecast`` (no Dagster).

The file is read by ``boxoffice.userfile`` (daily or weekly long format, or the Box Office Mojo
daily chart's own columns; docs/user_data.md). Each film's panel is built as the asset graph
builds it: the bundled whole-chart market calendar, metadata from the bundled The Numbers and TMDB
tables matched by title and release year (values given in the file win), and the pre-release
Google Trends series of films that are in the bundled catalog. The forecast starts from each
film's last usable week (the last full week before the first partial or missing one) and covers
the four weeks after it. One full week is enough: the model is trained from origin week 1 on.

A film that cannot be forecast (left out by the loader, no full week, a panel that cannot be
built) is returned in ``rejected`` with the reason; the others are forecast.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..boxoffice.bundled import bundled_trends, load_bundled
from ..boxoffice.features import MarketCalendar
from ..boxoffice.metadata import with_bundled_metadata
from ..boxoffice.panel import film_panel, pooled_panel
from ..boxoffice.sources import BoxOfficeData
from ..boxoffice.userfile import load_user_file
from ..errors import CineSeqError, ModelError
from .predict import film_forecasts
from .store import latest_model_path, load_model

FORECAST_FILE_COLUMNS = ["film_id", "origin_week", "horizon", "week", "p10", "p50", "p90"]
# A forecast can start from the opening week alone: training windows start at origin week 1.
MIN_FORECAST_WEEKS = 1


def load_forecaster(path: Path | None, storage_dir: Path, onnx: bool = False):
    """(model, file served): the weights file at ``path``, else the serving model materialized in
    ``storage_dir``; with ``onnx``, its network run by onnxruntime from the ``.onnx`` file beside it.

    Raises ``CineSeqError`` naming the file when there is no model or the file is not one.
    """
    weights = Path(path).expanduser() if path is not None else latest_model_path(storage_dir)
    try:
        if onnx:
            from .onnx_export import OnnxForecaster

            served = weights.with_suffix(".onnx")
            return OnnxForecaster(served, weights), served
        return load_model(weights)[0], weights
    except CineSeqError:
        raise
    except Exception as error:  # pyarrow, json, onnx and torch raise many types for a file that is not a model
        raise ModelError(weights, f"not a CineSeq forecast model ({type(error).__name__}: {error})",
                         "Give the .parquet weights file that the forecast_model asset writes "
                         "(storage/forecast_model/<architecture>.parquet).") from error


def forecast_file(input_path, model, market: MarketCalendar | None = None,
                  warnings: list | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """Forecast the four weeks after the last full week of every film in the file at ``input_path``.

    ``model`` is a TrainedModel (or anything ``predict.film_forecasts`` accepts); ``market`` the
    whole-chart calendar (default: the bundled one). Returns (forecast, rejected): one row per
    film and horizon with ``FORECAST_FILE_COLUMNS`` in dollars, and film_id -> why a film was not
    forecast. Raises ``InputFileError`` for a problem with the whole file. Repairs made while
    reading the file are appended to ``warnings``.
    """
    frames, rejected = user_file_panels(input_path, market, warnings)
    if not frames:
        return pd.DataFrame(columns=FORECAST_FILE_COLUMNS), rejected
    forecasts = film_forecasts(model, pooled_panel(frames), backtest=False)
    return _tidy(forecasts), rejected


def user_file_panels(input_path, market: MarketCalendar | None = None,
                     warnings: list | None = None) -> tuple[list[pd.DataFrame], dict[str, str]]:
    """The panel of every film of the file that can be forecast, and film_id -> why the others cannot.

    Raises ``InputFileError`` for a problem with the whole file (see :func:`forecast_file`).
    """
    data = load_user_file(input_path, warnings, min_weeks=MIN_FORECAST_WEEKS)
    rejected = dict(data.rejected)
    if data.films.empty:
        return [], rejected
    market = market if market is not None else MarketCalendar(load_bundled().market)
    data.films = with_bundled_metadata(data.films)
    frames = []
    for film_id in data.films["film_id"]:
        try:
            frames.append(film_panel_for_forecast(data, film_id, market))
        except (CineSeqError, ValueError, KeyError) as error:
            rejected[film_id] = f"film {film_id!r}: its panel could not be built ({error})"
    return frames, rejected


def film_panel_for_forecast(data: BoxOfficeData, film_id: str, market: MarketCalendar | None) -> pd.DataFrame:
    """Panel rows of one film as the weekly_panel asset builds them, from one full week on."""
    return film_panel(data, film_id, market, trends=_trends(data.film(film_id)), min_weeks=MIN_FORECAST_WEEKS)


def _trends(film: pd.Series) -> pd.DataFrame | None:
    """The bundled pre-release Trends series, for a catalog film (same id and opening day) only."""
    catalog, film_id = load_bundled().films_by_id(), film["film_id"]
    same_film = film_id in catalog.index and catalog.at[film_id, "release_date"] == pd.Timestamp(film["release_date"])
    return bundled_trends().get(film_id) if same_film else None


def _tidy(forecasts: pd.DataFrame) -> pd.DataFrame:
    """The live rows in ``FORECAST_FILE_COLUMNS`` (p10 <= p50 <= p90: the models' widening keeps the order)."""
    live = forecasts[forecasts["kind"] == "live"]
    out = live[FORECAST_FILE_COLUMNS].astype({"origin_week": int, "horizon": int, "week": int})
    return out.sort_values(["film_id", "horizon"]).reset_index(drop=True)
