"""What every box-office source hands to the panel: weekly rows, film rows, market context."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .schema import WIDE_RELEASE_THEATERS
from .weekly import daily_to_weekly, film_summary, market_from_daily


@dataclass
class BoxOfficeData:
    weekly: pd.DataFrame  # schema.WEEKLY_COLUMNS
    films: pd.DataFrame  # schema.FILM_COLUMNS, plus optional metadata columns from a user's file
    market: pd.DataFrame  # schema.MARKET_COLUMNS; empty when the source has no whole chart
    source: str  # "bundled", "user_file:<path>" or "live_chart"
    rejected: dict[str, str] = field(default_factory=dict)  # film_id -> why it was left out
    # Per-film lookups, built once per table: a run asks for thousands of films, one at a time.
    _weeks_by_film: tuple | None = field(default=None, init=False, repr=False, compare=False)
    _films_by_id: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def film_weeks(self, film_id: str) -> pd.DataFrame:
        if self._weeks_by_film is None or self._weeks_by_film[0] is not self.weekly:
            groups = {film: rows.reset_index(drop=True) for film, rows in self.weekly.groupby("film_id", sort=False)}
            self._weeks_by_film = (self.weekly, groups)
        return self._weeks_by_film[1].get(film_id, self.weekly.iloc[0:0].reset_index(drop=True))

    def films_by_id(self) -> pd.DataFrame:
        """The films table indexed by film id (the id also kept as a column)."""
        if self._films_by_id is None or self._films_by_id[0] is not self.films:
            self._films_by_id = (self.films, self.films.set_index("film_id", drop=False))
        return self._films_by_id[1]

    def film(self, film_id: str) -> pd.Series:
        return self.films_by_id().loc[film_id]


def from_daily(daily: pd.DataFrame, source: str, release_dates: pd.Series | None = None,
               min_chart_films: int = 1) -> BoxOfficeData:
    """Build the weekly, film and market tables from daily chart rows (``schema.DAILY_COLUMNS``); the
    market holds the days with at least ``min_chart_films`` films (``weekly.market_from_daily``)."""
    weekly = daily_to_weekly(daily, release_dates)
    films = film_summary(daily, weekly, release_dates)
    market = market_from_daily(daily, films, WIDE_RELEASE_THEATERS, min_chart_films)
    return BoxOfficeData(weekly=weekly, films=films, market=market, source=source)
