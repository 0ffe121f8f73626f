"""The weekly panel of one film: targets and features, leakage-safe by construction and by test.

Leakage-safe means: the row for week t is identical whether it is computed from the film's full
run or from its data cut at the end of week t. Every feature function below only looks at weeks
<= t of the film, at calendars known in advance (holidays, the release schedule of wide films),
at the whole chart *before* week t starts, and at static facts known before release. The test
suite checks that property for every function in ``FEATURES`` on real films.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from .calendar import holiday_flags, weeks_since_holiday
from .schema import DAY_GROSS_COLUMNS, POST_RELEASE_COLUMNS, WIDE_RELEASE_THEATERS

LOOKAHEAD_WEEKS = 4
STATIC_COLUMNS = ["distributor", "budget", "genres", "mpaa", "runtime", "production_company", *POST_RELEASE_COLUMNS]


@dataclass
class FilmContext:
    """Everything besides the film's own weeks that its panel rows may use."""

    film: pd.Series  # the film's row in the films table (metadata columns may be absent)
    market: "MarketCalendar | None" = None  # whole-chart context; None when the source has none
    trends: pd.DataFrame | None = None  # the film's Trends series (date, interest); None when absent


FeatureFunction = Callable[[pd.DataFrame, FilmContext], pd.DataFrame]


def target_features(weeks: pd.DataFrame, ctx: FilmContext) -> pd.DataFrame:
    """Weekly gross and its log1p target, theaters, retention and cumulative gross."""
    gross = weeks["gross"].astype(float)
    return pd.DataFrame({
        "gross": gross,
        "log_gross": np.log1p(gross),
        "theaters": weeks["theaters_max"].astype(float),
        "theaters_mean": weeks["theaters_mean"].astype(float),
        "retention": gross / gross.shift(1),
        "cum_gross": gross.cumsum(),
    })


FRIDAY, SATURDAY, SUNDAY = 4, 5, 6  # pandas day_of_week numbers (Monday = 0)


def daily_shape_features(weeks: pd.DataFrame, ctx: FilmContext) -> pd.DataFrame:
    """The shape of week t inside its seven days, from the daily chart (weeks t-1 and t only).

    A week's sum hides whether the audience is holding: a week that ends low relative to its own
    average, or leans on its weekend, falls faster after (docs/forecasting.md). ``day_gross_1..7`` are passed
    through (day 1 = ``week_start``); ``weekend_share`` is the Friday, Saturday and Sunday dates'
    gross over the week's; ``sunday_over_friday`` is log((Sun + 1) / (Fri + 1)); ``late_week_retention``
    is log1p of days 5..7 of week t minus that of week t-1; ``last_day_level`` is
    log1p(7 x day 7) - log1p(week gross). ``has_daily`` is 1 when all seven days of week t are known;
    a value whose days are missing (a weekly source has none) is NaN, never zero.
    """
    days = weeks[DAY_GROSS_COLUMNS].astype(float).reset_index(drop=True)
    gross = weeks["gross"].astype(float).reset_index(drop=True)
    values = days.to_numpy()
    complete = pd.Series(~np.isnan(values).any(axis=1))
    # Day k of the week falls on weekday (weekday of week_start + k - 1) mod 7.
    first_weekday = weeks["week_start"].dt.day_of_week.to_numpy()

    def on(weekday: int) -> pd.Series:
        return pd.Series(values[np.arange(len(values)), (weekday - first_weekday) % 7])

    friday, sunday = on(FRIDAY), on(SUNDAY)
    weekend = friday + on(SATURDAY) + sunday  # NaN when any of the three is missing
    late = pd.Series(np.log1p(values[:, 4:7].sum(axis=1)))  # days 5..7; NaN when one is missing
    follows = pd.Series(weeks["week"].to_numpy()).diff().eq(1)  # week t-1 is the previous row
    return days.assign(
        weekend_share=(weekend / gross.where(gross > 0)).where(complete),
        sunday_over_friday=np.log1p(sunday) - np.log1p(friday),
        late_week_retention=(late - late.shift(1)).where(follows),
        last_day_level=(np.log1p(7 * days["day_gross_7"]) - np.log1p(gross)).where(complete),
        has_daily=complete.astype(float),
    )


def calendar_features(weeks: pd.DataFrame, ctx: FilmContext) -> pd.DataFrame:
    """Week of run, month, weeks since the previous holiday, holiday flags for weeks t..t+4."""
    starts = weeks["week_start"]
    frame = pd.DataFrame({
        "week_end": starts + pd.Timedelta(days=6),
        "month": starts.dt.month.astype("int8"),
        "weeks_since_holiday": weeks_since_holiday(starts).to_numpy(),
    })
    return pd.concat([frame, holiday_flags(starts)], axis=1)


# A week's market counts as known when the chart of the 28 days before it holds at least this share
# of the usual gross: the median of the same 28 days (shifted by whole 52-week years, so weekdays
# line up) over the previous three years, at least two of them on the chart. Trailing, so only
# days before week t are read. A real market seldom falls below half of that (in 2002-2019 well
# under 1% of days; 2020-2021 did, and an unknown market is the safe reading of a pandemic); a
# chart that lacks the year's releases (the bundled 2024 chart: $0.45B of ~$8.7B) falls far below.
# A share of 0.8 would also mark 10-30% of normal years' weeks (measured on the bundled chart).
MIN_MARKET_COVERAGE = 0.5
COVERAGE_DAYS = 28
COVERAGE_YEARS = 3
MIN_COVERAGE_YEARS = 2
YEAR_DAYS = 364


def market_features(weeks: pd.DataFrame, ctx: FilmContext) -> pd.DataFrame:
    """Whole-chart gross of the 7 days before the week, and wide openings scheduled in weeks t+1..t+4.

    The chart gross is observed before week t starts; ``market_prev_week_days`` says how many of
    those 7 chart days exist (a day with no chart is missing, not zero). Wide openings come from
    the release schedule, which distributors announce months ahead (a date can still move: the
    schedule used here is the one that happened). ``market_coverage`` is the share of the usual
    gross the chart held before week t (``MarketCalendar.coverage``); below ``MIN_MARKET_COVERAGE``,
    or outside the chart's dates, the market is unknown: ``has_market`` is 0 and every market
    column is NaN, since a partial chart would read as an empty market with no competition.
    """
    starts = weeks["week_start"].reset_index(drop=True)
    if ctx.market is None:
        frame = pd.DataFrame({"market_prev_week_gross": np.nan, "market_prev_week_days": 0, "market_coverage": np.nan,
                              "has_market": 0}, index=starts.index)
        for k in range(1, LOOKAHEAD_WEEKS + 1):
            frame[f"wide_openings_w{k}"] = np.nan
        return frame
    calendar = ctx.market
    day = calendar.day_numbers(starts)
    prev_days = calendar.window_sum("chart_days", day - 7)
    coverage = calendar.coverage(day)
    known = coverage >= MIN_MARKET_COVERAGE  # NaN compares False: no evidence is unknown
    frame = pd.DataFrame({
        "market_prev_week_gross": np.where(known & (prev_days > 0), calendar.window_sum("chart_gross", day - 7), np.nan),
        "market_prev_week_days": prev_days.astype(int),
        "market_coverage": coverage,
        "has_market": known.astype(int),
    })
    for k in range(1, LOOKAHEAD_WEEKS + 1):
        begin = day + 7 * k
        scheduled = known & calendar.covers(begin)
        frame[f"wide_openings_w{k}"] = np.where(scheduled, calendar.window_sum("wide_openings", begin), np.nan)
    return frame


class MarketCalendar:
    """Market columns (schema.MARKET_COLUMNS) on a gap-free daily index, as cumulative sums.

    Built once per run and shared by every film, so a 7-day window sum is two array lookups.
    """

    def __init__(self, market: pd.DataFrame):
        dates = pd.to_datetime(market["date"])
        self.first = dates.min()
        daily = market.set_index(dates).reindex(pd.date_range(self.first, dates.max()))
        self.days = len(daily)
        self.table = market
        values = {
            "chart_gross": daily["chart_gross"].fillna(0.0),
            "chart_days": daily["chart_gross"].notna().astype(float),
            "wide_openings": daily["wide_openings"].fillna(0.0),
        }
        self.cumulative = {name: np.concatenate([[0.0], np.cumsum(v.to_numpy(dtype=float))]) for name, v in values.items()}

    def day_numbers(self, dates: pd.Series) -> np.ndarray:
        """Days since the first market day (negative before it)."""
        return (dates.to_numpy(dtype="datetime64[D]") - np.datetime64(self.first.date(), "D")).astype(int)

    def window_sum(self, column: str, begin_day: np.ndarray, length_days: int = 7) -> np.ndarray:
        """Sum of a column over days [begin, begin + length); days outside the table count 0."""
        cumulative = self.cumulative[column]
        return cumulative[np.clip(begin_day + length_days, 0, self.days)] - cumulative[np.clip(begin_day, 0, self.days)]

    def covers(self, begin_day: np.ndarray, length_days: int = 7) -> np.ndarray:
        return (begin_day >= 0) & (begin_day + length_days <= self.days)

    def coverage(self, day: np.ndarray) -> np.ndarray:
        """Chart gross of the ``COVERAGE_DAYS`` before each day over the usual gross of those days
        (see ``MIN_MARKET_COVERAGE``); NaN where fewer than ``MIN_COVERAGE_YEARS`` earlier years
        are on the chart. Days past the chart's end count 0, so a week after it has coverage 0."""
        day = np.asarray(day)
        recent = self.window_sum("chart_gross", day - COVERAGE_DAYS, COVERAGE_DAYS)
        past = []
        for years in range(1, COVERAGE_YEARS + 1):
            begin = day - COVERAGE_DAYS - YEAR_DAYS * years
            days_charted = self.window_sum("chart_days", begin, COVERAGE_DAYS)
            charted = self.covers(begin, COVERAGE_DAYS) & (days_charted >= 0.9 * COVERAGE_DAYS)
            past.append(np.where(charted, self.window_sum("chart_gross", begin, COVERAGE_DAYS), np.nan))
        past = np.column_stack(past) if len(day) else np.empty((0, COVERAGE_YEARS))
        enough = np.isfinite(past).sum(axis=1) >= MIN_COVERAGE_YEARS
        usual = np.nanmedian(np.where(enough[:, None], past, 1.0), axis=1)
        return np.where(enough & (usual > 0), recent / np.where(usual > 0, usual, 1.0), np.nan)


def static_features(weeks: pd.DataFrame, ctx: FilmContext) -> pd.DataFrame:
    """Facts known before release: opening date and width, metadata where a source matched."""
    film = ctx.film
    release = pd.Timestamp(film["release_date"])
    opening_theaters = float(film.get("opening_theaters", np.nan))
    values = {
        "title": film.get("title", film.name),
        "release_date": release,
        "release_year": release.year,
        "opening_theaters": opening_theaters,
        "release_width": "wide" if opening_theaters >= WIDE_RELEASE_THEATERS else "limited",
    }
    for column in STATIC_COLUMNS:
        values[column] = film.get(column, np.nan)
    values["log_budget"] = np.log1p(values["budget"]) if pd.notna(values["budget"]) else np.nan
    values["has_metadata"] = int(pd.notna(values["budget"]) or pd.notna(values["genres"]))
    return _repeat(values, len(weeks))


def _repeat(values: dict, rows: int) -> pd.DataFrame:
    """A frame of ``rows`` identical rows (static per-film columns)."""
    return pd.DataFrame({name: [value] * rows for name, value in values.items()})


def buzz_features(weeks: pd.DataFrame, ctx: FilmContext) -> pd.DataFrame:
    """Pre-release Google Trends summaries and YouTube trailer stats (NaN + indicator when absent)."""
    summary = trends_summary(ctx.trends, pd.Timestamp(ctx.film["release_date"]))
    summary["buzz_youtube_views"] = float(ctx.film.get("youtube_views", np.nan))
    summary["buzz_youtube_likes"] = float(ctx.film.get("youtube_likes", np.nan))
    summary["has_youtube"] = int(pd.notna(summary["buzz_youtube_views"]))
    return _repeat(summary, len(weeks))


def trends_summary(trends: pd.DataFrame | None, release_date: pd.Timestamp) -> dict:
    """Summaries of the weekly interest series strictly before release.

    Google scales a series to 100 at the maximum of the window that was requested; a window that
    reaches past the cut-off would let the future set the scale. So the series is cut at release
    and rescaled to 100 at the maximum of what remains: past data only.
    """
    empty = {"buzz_trends_weeks": 0, "buzz_trends_last4": np.nan, "buzz_trends_mean": np.nan,
             "buzz_trends_peak_weeks_before": np.nan, "buzz_trends_slope8": np.nan, "has_trends": 0}
    if trends is None or trends.empty:
        return empty
    past = trends[pd.to_datetime(trends["date"]) < release_date].sort_values("date")
    peak = past["interest"].max() if len(past) else 0
    if not peak or np.isnan(peak):
        return empty | {"buzz_trends_weeks": int(len(past))}
    scaled = 100.0 * past["interest"].to_numpy(dtype=float) / peak
    last8 = scaled[-8:]
    return {
        "buzz_trends_weeks": int(len(scaled)),
        "buzz_trends_last4": float(scaled[-4:].mean()),
        "buzz_trends_mean": float(scaled.mean()),
        "buzz_trends_peak_weeks_before": float((release_date - pd.Timestamp(past["date"].iloc[int(np.argmax(scaled))])).days / 7),
        "buzz_trends_slope8": float(np.polyfit(np.arange(len(last8)), last8, 1)[0]) if len(last8) >= 2 else np.nan,
        "has_trends": 1,
    }


FEATURES: list[FeatureFunction] = [target_features, daily_shape_features, calendar_features, market_features, static_features,
                                   buzz_features]


def usable_weeks(weeks: pd.DataFrame) -> pd.DataFrame:
    """The usable run (full weeks from opening), in week order, with real dates."""
    usable = weeks[weeks["usable"].astype(bool)].sort_values("week").reset_index(drop=True)
    usable["week_start"] = pd.to_datetime(usable["week_start"])
    return usable


def build_film_panel(weeks: pd.DataFrame, ctx: FilmContext) -> pd.DataFrame:
    """Panel rows (one per usable week) of one film from its weekly rows."""
    usable = usable_weeks(weeks)
    keys = usable[["film_id", "week", "week_start"]]
    return pd.concat([keys, *(feature(usable, ctx) for feature in FEATURES)], axis=1)
