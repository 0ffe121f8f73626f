"""Data-quality rules for the weekly panel; each returns the offending rows (empty = pass)."""

from __future__ import annotations

import numpy as np
import pandas as pd

REQUIRED_PANEL_COLUMNS = {
    "film_id": "object", "week": "integer", "week_start": "datetime", "gross": "float", "log_gross": "float",
    "theaters": "float", "retention": "float", "cum_gross": "float", "weeks_since_holiday": "integer",
}
CUMULATIVE_TOLERANCE = 1e-6  # relative; cum_gross is a running sum, so only rounding may differ


def schema_problems(panel: pd.DataFrame) -> list[str]:
    kinds = {
        "object": lambda s: pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s),
        "integer": pd.api.types.is_integer_dtype,
        "float": pd.api.types.is_float_dtype,
        "datetime": pd.api.types.is_datetime64_any_dtype,
    }
    problems = [f"missing column {c!r}" for c in REQUIRED_PANEL_COLUMNS if c not in panel]
    problems += [f"column {c!r} is {panel[c].dtype}, expected {kind}" for c, kind in REQUIRED_PANEL_COLUMNS.items()
                 if c in panel and not kinds[kind](panel[c])]
    return problems


def negative_gross(panel: pd.DataFrame) -> pd.DataFrame:
    return panel.loc[~(panel["gross"] >= 0), ["film_id", "week", "gross"]]


def duplicate_film_weeks(panel: pd.DataFrame) -> pd.DataFrame:
    return panel.loc[panel.duplicated(["film_id", "week"], keep=False), ["film_id", "week"]]


def non_contiguous_films(panel: pd.DataFrame) -> pd.DataFrame:
    """Films whose weeks are not exactly 1..n."""
    weeks = panel.groupby("film_id")["week"].agg(["min", "max", "count", "nunique"])
    bad = weeks[(weeks["min"] != 1) | (weeks["max"] != weeks["count"]) | (weeks["nunique"] != weeks["count"])]
    return bad.reset_index()


def cumulative_mismatches(panel: pd.DataFrame) -> pd.DataFrame:
    ordered = panel.sort_values(["film_id", "week"])
    expected = ordered.groupby("film_id")["gross"].cumsum()
    off = ~np.isclose(ordered["cum_gross"], expected, rtol=CUMULATIVE_TOLERANCE, atol=1.0)
    return ordered.loc[off, ["film_id", "week", "cum_gross"]].assign(expected=expected[off])
