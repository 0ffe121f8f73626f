"""US holidays that move box office, as dates, and per-week flags for a film's run.

Built on pandas' holiday rules (the same rules as its US federal calendar) for the fixed and
floating holidays; two windows are CineSeq's own and documented here:
- christmas_new_year: Dec 24 .. Jan 1 (the holiday moviegoing stretch);
- spring_break: Mar 8 .. Apr 15, when most US school districts take their week off.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from pandas.tseries.holiday import (
    Holiday,
    USLaborDay,
    USMemorialDay,
    USPresidentsDay,
    USThanksgivingDay,
)

HOLIDAYS = ["presidents_day", "spring_break", "memorial_day", "july_4", "labor_day", "thanksgiving", "christmas_new_year"]
LOOKAHEAD_WEEKS = 4

_SINGLE_DAY_RULES = {
    "presidents_day": USPresidentsDay,
    "memorial_day": USMemorialDay,
    "july_4": Holiday("July 4th", month=7, day=4),
    "labor_day": USLaborDay,
    "thanksgiving": USThanksgivingDay,
}
_WINDOWS = {  # name -> (start month, day), (end month, day), end in the following year when before start
    "spring_break": ((3, 8), (4, 15)),
    "christmas_new_year": ((12, 24), (1, 1)),
}


@lru_cache(maxsize=8)
def holiday_days(first_year: int = 1995, last_year: int = 2035) -> pd.DataFrame:
    """Every holiday day (``date, holiday``) between the two years, windows expanded day by day."""
    start, end = pd.Timestamp(first_year, 1, 1), pd.Timestamp(last_year, 12, 31)
    frames = [pd.DataFrame({"date": rule.dates(start, end), "holiday": name}) for name, rule in _SINGLE_DAY_RULES.items()]
    for name, ((m0, d0), (m1, d1)) in _WINDOWS.items():
        for year in range(first_year, last_year + 1):
            window_start = pd.Timestamp(year, m0, d0)
            window_end = pd.Timestamp(year + (1 if (m1, d1) < (m0, d0) else 0), m1, d1)
            frames.append(pd.DataFrame({"date": pd.date_range(window_start, window_end), "holiday": name}))
    return pd.concat(frames, ignore_index=True).sort_values("date").reset_index(drop=True)


# The years the calendar covers unless a film needs others: the bundled chart (2000-2024) and more.
DEFAULT_YEARS = (1995, 2035)


@lru_cache(maxsize=8)
def _holiday_day_counts(first_year: int, last_year: int) -> tuple[pd.Timestamp, dict[str, np.ndarray]]:
    """Cumulative count of holiday days per name on a gap-free daily index (fast window tests)."""
    days = holiday_days(first_year, last_year)
    first = pd.Timestamp(first_year, 1, 1)
    index = pd.date_range(first, pd.Timestamp(last_year, 12, 31))
    counts = {}
    for name in HOLIDAYS:
        hit = index.isin(days.loc[days["holiday"] == name, "date"]).astype(float)
        counts[name] = np.concatenate([[0.0], np.cumsum(hit)])
    return first, counts


def _years_for(dates: pd.Series, after_days: int) -> tuple[int, int]:
    """The calendar's years: the default span, widened to cover ``dates`` (and ``after_days`` past
    them, and the holiday before the first). The rules are computable for any year, so a film of
    1950 or 2090 gets its holidays instead of an index past the table's end."""
    if dates.empty or dates.isna().all():
        return DEFAULT_YEARS
    first = min(DEFAULT_YEARS[0], int(dates.min().year) - 1)
    last = max(DEFAULT_YEARS[1], int((dates.max() + pd.Timedelta(days=after_days)).year))
    return first, last


def holiday_flags(week_starts: pd.Series) -> pd.DataFrame:
    """For weeks starting on ``week_starts``: ``holiday_<name>_w<k>`` is 1 when week t+k holds that holiday.

    Calendars are known in advance, so flags for the next weeks leak nothing.
    """
    week_starts = pd.to_datetime(pd.Series(week_starts))
    first, counts = _holiday_day_counts(*_years_for(week_starts, 7 * (LOOKAHEAD_WEEKS + 1)))
    offsets = (week_starts - first).dt.days.to_numpy()
    columns = {}
    for k in range(LOOKAHEAD_WEEKS + 1):
        begin = offsets + 7 * k
        for name in HOLIDAYS:
            columns[f"holiday_{name}_w{k}"] = (counts[name][begin + 7] > counts[name][begin]).astype("int8")
    return pd.DataFrame(columns)


def weeks_since_holiday(week_starts: pd.Series) -> pd.Series:
    """Whole weeks since the latest holiday day on or before the end of each week (0 = this week)."""
    week_ends = pd.to_datetime(pd.Series(week_starts)).reset_index(drop=True) + pd.Timedelta(days=6)
    dates = holiday_days(*_years_for(week_ends, 0))["date"].drop_duplicates().to_numpy()
    last_index = dates.searchsorted(week_ends.to_numpy(), side="right") - 1
    last_holiday = pd.Series(dates[last_index.clip(min=0)])
    return ((week_ends - last_holiday).dt.days // 7).astype(int).rename("weeks_since_holiday")
