"""Assembling one film's panel from a source, the pooled panel, and the truncation-invariance test."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import FilmDataError
from .features import FilmContext, MarketCalendar, build_film_panel, usable_weeks
from .schema import PANEL_SCHEMA_VERSION
from .sources import BoxOfficeData

MIN_PANEL_WEEKS = 2


def film_row(data: BoxOfficeData, film_id: str, metadata: dict | None = None) -> pd.Series:
    """The film's row, with metadata from a metadata source laid over it (non-missing values win)."""
    if data.rejected.get(film_id):
        raise FilmDataError(film_id, data.rejected[film_id], source=data.source)
    if film_id not in data.films_by_id().index:
        raise FilmDataError(film_id, "is not in the box-office source", source=data.source,
                            fix="Check the id with `cineseq films`, or add the film to your file.")
    row = data.film(film_id).copy()
    for key, value in (metadata or {}).items():
        if value is not None and not (isinstance(value, float) and np.isnan(value)):
            row[key] = value
    return row


def film_panel_with_extras(data: BoxOfficeData, market: MarketCalendar | None,
                           extras: dict[str, tuple[pd.DataFrame | None, dict] | str], film_id: str) -> pd.DataFrame:
    """``film_panel`` with the film's (trends, metadata) looked up in ``extras`` (what the sources gave, or
    why they could not: the film fails with that message): a task of its own, picklable, for a Dask worker."""
    found = extras.get(film_id, (None, None))
    if isinstance(found, str):
        raise FilmDataError(film_id, found)
    trends, metadata = found
    return film_panel(data, film_id, market, trends=trends, metadata=metadata)


def film_panel(data: BoxOfficeData, film_id: str, market: MarketCalendar | None,
               trends: pd.DataFrame | None = None, metadata: dict | None = None,
               min_weeks: int = MIN_PANEL_WEEKS) -> pd.DataFrame:
    """Panel rows of one film; fewer than ``min_weeks`` usable weeks is an error for that film
    (two for the panel asset; a forecast can start from the opening week alone)."""
    row = film_row(data, film_id, metadata)
    weeks = data.film_weeks(film_id)
    usable = int(weeks["usable"].sum()) if len(weeks) else 0
    if usable < min_weeks:
        raise FilmDataError(film_id, f"has {usable} usable week(s); at least {min_weeks} full weeks from opening are needed",
                            source=data.source, fix="Check for missing days in its first weeks.")
    ctx = FilmContext(film=row, market=market, trends=trends)
    return build_film_panel(weeks, ctx)


def pooled_panel(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """All films' rows in one table for training, tagged with the panel schema version."""
    panel = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    panel["schema_version"] = PANEL_SCHEMA_VERSION
    return panel.sort_values(["film_id", "week"]).reset_index(drop=True)


def truncated_context(ctx: FilmContext, cutoff: pd.Timestamp) -> FilmContext:
    """The world as seen at ``cutoff``: chart days after it unknown; calendars and schedules kept."""
    if ctx.market is None:
        return ctx
    table = ctx.market.table.copy()
    table.loc[pd.to_datetime(table["date"]) > cutoff, "chart_gross"] = np.nan
    return FilmContext(film=ctx.film, market=MarketCalendar(table), trends=ctx.trends)


def truncation_mismatches(weeks: pd.DataFrame, ctx: FilmContext, feature=None) -> list[str]:
    """Weeks t whose row differs when recomputed from data cut at the end of week t.

    ``feature`` limits the comparison to one feature function (for unit tests); by default the
    whole panel is compared. Returns human-readable differences; empty means invariant.
    """
    build = build_film_panel if feature is None else (lambda w, c: feature(usable_weeks(w), c))
    full = build(weeks, ctx).reset_index(drop=True)
    problems = []
    for t in range(1, int(weeks["usable"].sum()) + 1):
        cut = weeks[weeks["week"] <= t]
        cutoff = pd.Timestamp(cut["week_start"].max()) + pd.Timedelta(days=6)
        partial = build(cut, truncated_context(ctx, cutoff)).reset_index(drop=True)
        expected = full.iloc[: len(partial)]
        try:
            pd.testing.assert_frame_equal(partial, expected, check_dtype=False)
        except AssertionError as error:
            problems.append(f"week {t}: {str(error).splitlines()[0:3]}")
    return problems

