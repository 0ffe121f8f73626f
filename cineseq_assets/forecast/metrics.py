"""Errors in dollars: MAE, RMSE and WAPE (sum |error| / sum actual), and 80% interval coverage,
overall and by group, and the split-conformal margin that calibrates a band's coverage. The evaluation,
the demo's per-film backtest and the benchmarks all use these."""

from __future__ import annotations

import numpy as np
import pandas as pd


def point_errors(p50: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, WAPE and n of point forecasts against known actuals (dollars, same shape).

    WAPE is NaN when the actuals sum to zero: there is nothing to weight the errors by.
    """
    p50, actual = np.asarray(p50, dtype=float), np.asarray(actual, dtype=float)
    error = p50 - actual
    total = np.sum(np.abs(actual))
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error ** 2))),
        "wape": float(np.sum(np.abs(error)) / total) if total else float("nan"),
        "n": int(error.size),
    }


def interval_coverage(p10: np.ndarray, p90: np.ndarray, actual: np.ndarray) -> float:
    """Share of actuals inside [p10, p90] (nominal 80%); NaN for point forecasts (no interval)."""
    p10, p90, actual = (np.asarray(a, dtype=float) for a in (p10, p90, actual))
    if np.isnan(p10).all():
        return float("nan")
    return float(np.mean((actual >= p10) & (actual <= p90)))


def conformal_margin(lower: np.ndarray, upper: np.ndarray, actual: np.ndarray, coverage: float = 0.8) -> float:
    """The split-conformal (CQR) margin of a band on calibration data: how far to widen [lower, upper]
    (narrow, when negative) so that ``coverage`` of new exchangeable outcomes fall inside.

    A point's score is how far its actual falls outside the band (negative inside); the margin is the
    scores' finite-sample ceil((n + 1) coverage) / n quantile. 0 without calibration points.
    """
    lower, upper, actual = (np.asarray(a, dtype=float) for a in (lower, upper, actual))
    return conformal_quantile(np.maximum(lower - actual, actual - upper), coverage)


def conformal_quantile(scores: np.ndarray, coverage: float = 0.8) -> float:
    """The finite-sample ceil((n + 1) coverage) / n quantile of conformity scores; 0 without any."""
    scores = np.asarray(scores, dtype=float)
    n = scores.size
    return float(np.quantile(scores, min(1.0, np.ceil((n + 1) * coverage) / n))) if n else 0.0


def error_table(forecasts: pd.DataFrame) -> dict[str, float]:
    """MAE, RMSE, WAPE of a long table with ``actual`` and ``p50`` columns (dollars)."""
    return point_errors(forecasts["p50"].to_numpy(dtype=float), forecasts["actual"].to_numpy(dtype=float))


def coverage(forecasts: pd.DataFrame) -> float:
    """Share of actuals inside [p10, p90] of a long table (nominal 80%); NaN for point forecasts."""
    if "p10" not in forecasts:
        return float("nan")
    return interval_coverage(forecasts["p10"].to_numpy(dtype=float), forecasts["p90"].to_numpy(dtype=float),
                             forecasts["actual"].to_numpy(dtype=float))


def errors_by_horizon(quantiles: np.ndarray, actual: np.ndarray) -> list[dict]:
    """Errors of forecasts from many origins per horizon ("1", "2", ...) and over all horizons ("all").

    ``quantiles`` [N, H, 3] are p10/p50/p90 in dollars, ``actual`` [N, H] the gross (NaN: not known
    yet; such cells do not count). One record per horizon with a known actual: horizon, mae, rmse,
    wape, n, coverage_80. Arrays in, records out: the demo calls it on every request, and a pandas
    frame built here and renamed there would cost it 3 ms.
    """
    rows = []
    horizons = [(str(h + 1), np.s_[:, h]) for h in range(actual.shape[1])] + [("all", np.s_[:, :])]
    for name, columns in horizons:
        truth = actual[columns]
        known = ~np.isnan(truth)
        if known.any():
            p10, p50, p90 = (quantiles[..., q][columns][known] for q in range(3))
            rows.append({"horizon": name, **point_errors(p50, truth[known]),
                         "coverage_80": interval_coverage(p10, p90, truth[known])})
    return rows


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
