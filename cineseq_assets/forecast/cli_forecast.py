"""Forecast every film of a user's box office file: the code behind ``cineseq forecast`` (no Dagster).

Each film's panel is built by ``forecast.new_films`` as the asset graph builds it (docs/user_data.md).
The forecast starts from each film's last usable week (the last full week before the first partial
or missing one) and covers the four weeks after it.

A film that cannot be forecast (left out by the loader, no full week, a panel that cannot be
built) is returned in ``rejected`` with the reason; the others are forecast.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..boxoffice.features import MarketCalendar
from ..boxoffice.panel import pooled_panel
from ..errors import CineSeqError, ModelError
from .new_films import user_file_panels
from .predict import film_forecasts
from .store import latest_model_path, load_model

FORECAST_FILE_COLUMNS = ["film_id", "origin_week", "horizon", "week", "p10", "p50", "p90"]


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


def _tidy(forecasts: pd.DataFrame) -> pd.DataFrame:
    """The live rows in ``FORECAST_FILE_COLUMNS`` (p10 <= p50 <= p90: the models' widening keeps the order)."""
    live = forecasts[forecasts["kind"] == "live"]
    out = live[FORECAST_FILE_COLUMNS].astype({"origin_week": int, "horizon": int, "week": int})
    return out.sort_values(["film_id", "horizon"]).reset_index(drop=True)
