"""Daily chart rows -> weekly rows per film, and the per-film summary the catalog is built from.

Week k of a run holds days 7(k-1)+1 .. 7k counted from opening day, so a film that opens on a
Friday gets Friday-Thursday weeks. A film falls off the daily chart late in its run: a missing day
is missing, never zero. A week with fewer than 7 days is marked partial, and a film's usable run
stops at its first partial week (later weeks are kept, flagged, for analysis only). Each week keeps
its seven days (``day_gross_1`` .. ``day_gross_7``, day 1 = ``week_start``), NaN where a day is
missing: the shape of a week says more than its sum (see features.daily_shape_features).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .schema import DAY_GROSS_COLUMNS, FILM_COLUMNS, MARKET_COLUMNS, WEEKLY_COLUMNS


def opening_dates(daily: pd.DataFrame) -> pd.Series:
    """Opening day per film: from ``day_of_run`` where the chart reports it, else the first date seen.

    The chart's day number is the most reliable anchor (a film seen first on day 9 opened 8 days
    earlier); the most common implied date wins, which ignores the odd mistyped day number.
    """
    daily = daily.reset_index(drop=True)  # rows are matched by position below
    dates = pd.to_datetime(daily["date"])
    day = pd.to_numeric(daily.get("day_of_run"), errors="coerce") if "day_of_run" in daily else None
    first_seen = dates.groupby(daily["film_id"]).min()
    if day is None or day.isna().all():
        return first_seen.rename("release_date")
    implied = (dates - pd.to_timedelta(day - 1, unit="D")).dropna()
    mode = implied.groupby(daily.loc[implied.index, "film_id"]).agg(lambda s: s.mode().iloc[0])
    return mode.reindex(first_seen.index).fillna(first_seen).rename("release_date")


def daily_to_weekly(daily: pd.DataFrame, release_dates: pd.Series | None = None) -> pd.DataFrame:
    """Aggregate daily rows (``film_id, date, gross, theaters``) into the weekly table.

    ``release_dates`` (film_id -> opening day) overrides the dates inferred from the chart.
    Days before the opening date (previews) are ignored: they belong to no week of the run.
    """
    if daily.empty:
        return pd.DataFrame(columns=WEEKLY_COLUMNS)
    opening = opening_dates(daily) if release_dates is None else pd.to_datetime(release_dates)
    day = daily[["film_id", "date", "gross", "theaters"]].copy()
    day["date"] = pd.to_datetime(day["date"])
    day_index = (day["date"] - day["film_id"].map(opening)).dt.days
    day = day[day_index >= 0]
    day["week"] = (day_index[day_index >= 0] // 7 + 1).astype(int)
    day["day_in_week"] = (day_index[day_index >= 0] % 7 + 1).astype(int)
    grouped = day.groupby(["film_id", "week"], sort=True)
    weekly = grouped.agg(
        gross=("gross", "sum"),
        days_present=("date", "nunique"),
        theaters_max=("theaters", "max"),
        theaters_mean=("theaters", "mean"),
    ).reset_index()
    weekly = weekly.join(_day_grosses(day), on=["film_id", "week"])
    weekly = _fill_missing_weeks(weekly)
    weekly["week_start"] = weekly["film_id"].map(opening) + pd.to_timedelta(7 * (weekly["week"] - 1), unit="D")
    weekly["full_week"] = weekly["days_present"] == 7
    weekly["cum_gross"] = weekly.groupby("film_id")["gross"].cumsum()
    weekly["usable"] = weekly.groupby("film_id")["full_week"].cummin()
    weekly["gross"] = weekly["gross"].astype(float)
    return weekly[WEEKLY_COLUMNS]


def _day_grosses(day: pd.DataFrame) -> pd.DataFrame:
    """Per (film, week): the gross of each day of the week, NaN where the chart has no such day.

    ``min_count=1`` keeps a day without a gross missing instead of summing it to zero."""
    days = day.groupby(["film_id", "week", "day_in_week"])["gross"].sum(min_count=1).unstack("day_in_week")
    days = days.reindex(columns=range(1, 8))
    days.columns = DAY_GROSS_COLUMNS
    return days.astype(float)


def _fill_missing_weeks(weekly: pd.DataFrame) -> pd.DataFrame:
    """Insert weeks with no chart day at all (0 days present, gross NaN) so weeks stay contiguous."""
    full_index = pd.MultiIndex.from_tuples(
        [(film, w) for film, last in weekly.groupby("film_id")["week"].max().items() for w in range(1, last + 1)],
        names=["film_id", "week"],
    )
    filled = weekly.set_index(["film_id", "week"]).reindex(full_index).reset_index()
    filled["days_present"] = filled["days_present"].fillna(0).astype(int)
    return filled


def film_summary(daily: pd.DataFrame, weekly: pd.DataFrame, release_dates: pd.Series | None = None) -> pd.DataFrame:
    """One row per film: title, opening date, distributor, opening theaters, usable weeks, gross."""
    opening = opening_dates(daily) if release_dates is None else pd.to_datetime(release_dates)
    ordered = daily.sort_values(["film_id", "date"])
    last = ordered.groupby("film_id").last()
    films = pd.DataFrame({"film_id": opening.index, "release_date": opening.values})
    films["title"] = films["film_id"].map(last["title"]) if "title" in last else films["film_id"]
    distributor = last["distributor"] if "distributor" in last else pd.Series(dtype=object)
    films["distributor"] = films["film_id"].map(distributor.replace("-", np.nan))
    week_one = weekly[weekly["week"] == 1].set_index("film_id")
    films["opening_theaters"] = films["film_id"].map(week_one["theaters_max"])
    films["usable_weeks"] = films["film_id"].map(weekly.groupby("film_id")["usable"].sum()).fillna(0).astype(int)
    films["total_gross"] = films["film_id"].map(weekly.groupby("film_id")["gross"].sum())
    return films[FILM_COLUMNS].sort_values(["release_date", "film_id"]).reset_index(drop=True)


# A day of a user's file with fewer films than this is not a whole chart (see market_from_daily).
WHOLE_CHART_FILMS = 10


def market_from_daily(daily: pd.DataFrame, films: pd.DataFrame, wide_theaters: int, min_films: int = 1) -> pd.DataFrame:
    """Market context per calendar day: total gross on the chart and wide openings that day.

    A day with fewer than ``min_films`` films is left out (unknown): a user's file of a few films
    is not the market, while a whole daily chart lists 28-46 films a day (quartiles, 2000-2023).
    """
    dates = pd.to_datetime(daily["date"])
    chart = daily.assign(date=dates).groupby("date")["gross"].sum()
    chart = chart[dates.groupby(dates).size().reindex(chart.index) >= min_films]
    wide = films[films["opening_theaters"] >= wide_theaters].groupby("release_date").size()
    market = pd.DataFrame({"chart_gross": chart.astype(float)})
    market["wide_openings"] = wide.reindex(market.index).fillna(0).astype(int)
    return market.rename_axis("date").reset_index()


def best_market(*markets: pd.DataFrame) -> pd.DataFrame:
    """One market table (schema.MARKET_COLUMNS) from several sources, day by day the most complete.

    Every source lists a subset of the films playing, so on each day the larger chart total (and the
    larger count of wide openings) is the more complete one: a user's whole daily chart fills the days
    where the bundled chart lacks the year's releases, and the bundled chart fills the past years a
    live chart of recent days does not hold. Whether the result is whole enough to use is measured per
    week afterwards (``features.MarketCalendar.coverage``).
    """
    tables = [m for m in markets if m is not None and len(m)]
    if not tables:
        return pd.DataFrame(columns=MARKET_COLUMNS)
    stacked = pd.concat([t[MARKET_COLUMNS].assign(date=pd.to_datetime(t["date"])) for t in tables], ignore_index=True)
    best = stacked.groupby("date", sort=True).agg(chart_gross=("chart_gross", "max"), wide_openings=("wide_openings", "max"))
    return best.astype({"wide_openings": int}).reset_index()[MARKET_COLUMNS]
