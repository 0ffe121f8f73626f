"""Forecast every film of a user's box office file: the code behind ``cineseq forecast`` (no Dagster).

Each film's panel is built by ``forecast.new_films`` as the asset graph builds it (docs/user_data.md).
The forecast starts from each film's last usable week (the last full week before the first partial
or missing one) and covers the four weeks after it.

A film that cannot be forecast (left out by the loader, no full week, a panel that cannot be
built) is returned in ``rejected`` with the reason; the others are forecast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..boxoffice.features import MarketCalendar
from ..boxoffice.panel import pooled_panel
from ..errors import CineSeqError, ModelError
from .final_total import FINAL_COLUMNS, FinalTotalModel
from .new_films import user_file_panels
from .predict import forecasts_and_totals
from .store import latest_model_path, load_final_total, load_model

FORECAST_FILE_COLUMNS = ["film_id", "origin_week", "horizon", "week", "p10", "p50", "p90"]
FINAL_FILE_COLUMNS = FINAL_COLUMNS  # one row per film: its final domestic total from the same origin week


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


def final_total_model(served: Path) -> FinalTotalModel | None:
    """The final-total model stored with the served file's weights (the ``.parquet`` beside an ``.onnx``)."""
    try:
        return load_final_total(Path(served).with_suffix(".parquet"))
    except (OSError, ValueError, KeyError):
        return None  # load_forecaster has read the model: a final total it cannot read is left out


def forecast_file(input_path, model, market: MarketCalendar | None = None,
                  warnings: list | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """Forecast the four weeks after the last full week of every film in the file at ``input_path``.

    ``model`` is a TrainedModel (or anything ``predict.film_forecasts`` accepts); ``market`` the
    whole-chart calendar (default: the bundled one). Returns (forecast, rejected): one row per
    film and horizon with ``FORECAST_FILE_COLUMNS`` in dollars, and film_id -> why a film was not
    forecast. Raises ``InputFileError`` for a problem with the whole file. Repairs made while
    reading the file are appended to ``warnings``.
    """
    forecast, _, rejected = forecast_file_totals(input_path, model, None, market, warnings)
    return forecast, rejected


def forecast_file_totals(input_path, model, final: FinalTotalModel | None, market: MarketCalendar | None = None,
                         warnings: list | None = None, progress: Callable[[str], None] | None = None,
                         ) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, str]]:
    """``forecast_file``'s (forecast, rejected) and, between them, each film's final domestic total from
    the same origin week in ``FINAL_FILE_COLUMNS`` (None when ``final`` is None: a model stored without one).
    ``progress`` is told what is being done, stage by stage (the CLI prints it for a large file)."""
    frames, rejected = user_file_panels(input_path, market, warnings, progress)
    if not frames:
        empty = None if final is None else pd.DataFrame(columns=FINAL_FILE_COLUMNS)
        return pd.DataFrame(columns=FORECAST_FILE_COLUMNS), empty, rejected
    if progress:
        progress(f"forecasting {len(frames):,} films")
    forecasts, totals = forecasts_and_totals(model, pooled_panel(frames), final, backtest=False)
    if totals is not None:
        totals = totals[FINAL_FILE_COLUMNS].astype({"origin_week": int}).sort_values("film_id", ignore_index=True)
    return _tidy(forecasts), totals, rejected


def _tidy(forecasts: pd.DataFrame) -> pd.DataFrame:
    """The live rows in ``FORECAST_FILE_COLUMNS`` (p10 <= p50 <= p90: the models' widening keeps the order)."""
    live = forecasts[forecasts["kind"] == "live"]
    out = live[FORECAST_FILE_COLUMNS].astype({"origin_week": int, "horizon": int, "week": int})
    return out.sort_values(["film_id", "horizon"]).reset_index(drop=True)
