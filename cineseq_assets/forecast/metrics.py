"""Errors in dollars: MAE, RMSE and WAPE (sum |error| / sum actual), overall and by group."""

from __future__ import annotations

import numpy as np
import pandas as pd


def error_table(forecasts: pd.DataFrame) -> dict[str, float]:
    """MAE, RMSE, WAPE of a long table with ``actual`` and ``p50`` columns (dollars)."""
    error = forecasts["p50"].to_numpy(dtype=float) - forecasts["actual"].to_numpy(dtype=float)
    actual = forecasts["actual"].to_numpy(dtype=float)
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error ** 2))),
        "wape": float(np.sum(np.abs(error)) / np.sum(np.abs(actual))),
        "n": int(len(error)),
    }


def coverage(forecasts: pd.DataFrame) -> float:
    """Share of actuals inside [p10, p90] (nominal 80%); NaN for point forecasts (no interval)."""
    if "p10" not in forecasts or forecasts["p10"].isna().all():
        return float("nan")
    inside = (forecasts["actual"] >= forecasts["p10"]) & (forecasts["actual"] <= forecasts["p90"])
    return float(inside.mean())


GROUPS = {"overall": [], "horizon": ["horizon"], "origin": ["origin_week"], "release_width": ["release_width"],
          "film": ["film_id"]}


def grouped_errors(forecasts: pd.DataFrame, extra_keys: list[str] | None = None) -> pd.DataFrame:
    """One row per (extra keys, grouping, group value) with MAE, RMSE, WAPE, n, and coverage."""
    keys = list(extra_keys or [])
    rows = []
    for grouping, columns in GROUPS.items():
        for group_key, frame in forecasts.groupby(keys + columns, sort=True) if keys + columns else [((), forecasts)]:
            group_key = group_key if isinstance(group_key, tuple) else (group_key,)
            row = dict(zip(keys, group_key[: len(keys)]))
            row["grouping"] = grouping
            row["group"] = "all" if not columns else str(group_key[len(keys)])
            row.update(error_table(frame))
            row["coverage_80"] = coverage(frame)
            rows.append(row)
    return pd.DataFrame(rows)
