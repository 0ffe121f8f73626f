"""Forecast tables in dollars from a trained model (PyTorch or onnxruntime) and panel rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .features import HORIZON
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
    config = model.train_config
    windows = build_windows(panel, config.encoder_length, trailers=trailers, min_targets=0)
    windows = windows.with_prior(model.pooled, config.prior)
    quantiles, _ = model.predict(windows)
    last = windows.is_last_origin()
    frames = [forecast_frame(windows.subset(last), quantiles[last], "live")]
    if backtest:
        earlier = ~last
        if earlier.any():
            frames.append(forecast_frame(windows.subset(earlier), quantiles[earlier], "backtest"))
    return pd.concat(frames, ignore_index=True).sort_values(["film_id", "kind", "origin_week", "horizon"],
                                                           ignore_index=True)

