"""The checked rows built into ``BoxOfficeData`` (weekly, films, market tables) as the bundled data
has them; films with fewer usable weeks than ``min_weeks`` are left out, with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..schema import DAY_GROSS_COLUMNS, FILM_COLUMNS, MARKET_COLUMNS, WEEKLY_COLUMNS
from ..sources import BoxOfficeData, from_daily
from ..weekly import WHOLE_CHART_FILMS, _fill_missing_weeks
from .columns import EXTRA_FILM_COLUMNS, NUMBER_FILM_COLUMNS, TEXT_FILM_COLUMNS
from .report import Report

# Fitting a decay needs a trend: at least two full weeks (the default). A forecast can start from
# the opening week alone: `cineseq forecast` loads with min_weeks=1.
MIN_USABLE_WEEKS = 2


def build_checked(rows: pd.DataFrame, kind: str, report: Report) -> BoxOfficeData:
    """The tables for the films without problems, then without the films too short to use."""
    rejected = {problem.film_id for problem in report.problems}
    rows = rows[~rows["film_id"].isin(rejected)]
    data = _build(rows, kind, report)
    short = _check_run_lengths(data.weekly, rows, kind, report)
    if short:
        market = data.market  # a film too short to forecast (or seen mid-run) was still on the chart those days
        data = _build(rows[~rows["film_id"].isin(short)], kind, report)
        data.market = market
    return data


def _build(rows: pd.DataFrame, kind: str, report: Report) -> BoxOfficeData:
    source = f"user_file:{report.path}"
    if rows.empty:
        return BoxOfficeData(weekly=pd.DataFrame(columns=WEEKLY_COLUMNS), films=pd.DataFrame(columns=FILM_COLUMNS),
                             market=pd.DataFrame(columns=MARKET_COLUMNS), source=source)
    film_values = _film_values(rows)
    if kind == "daily":
        data = _from_daily_rows(rows, film_values, source, report)
    else:
        data = _from_weekly_rows(rows, film_values, source)
    extra = [column for column in EXTRA_FILM_COLUMNS if column in rows]
    data.films = data.films.join(film_values[extra], on="film_id")
    return data


def _film_values(rows: pd.DataFrame) -> pd.DataFrame:
    """Per film: the first non-empty value of each per-film column; title defaults to the id."""
    columns = [c for c in ("release_date",) + TEXT_FILM_COLUMNS + NUMBER_FILM_COLUMNS if c in rows]
    values = rows.groupby("film_id", sort=False)[columns].first()
    if "day_of_run" in rows:
        values["release_date"] = values["release_date"].fillna(_implied_openings(rows))
    if "title" not in values:
        values["title"] = np.nan
    values["title"] = values["title"].fillna(pd.Series(values.index, index=values.index))
    return values


def _implied_openings(rows: pd.DataFrame) -> pd.Series:
    """Per film, the opening day that its day_of_run numbers imply; the most common one wins,
    which ignores the odd mistyped day number (as ``weekly.opening_dates`` does for the chart)."""
    known = rows[rows["day_of_run"].notna()]
    implied = known["date"] - pd.to_timedelta(known["day_of_run"] - 1, unit="D")
    counts = implied.groupby([known["film_id"], implied.rename("opening")]).size().rename("days").reset_index()
    # The most days pointing to it wins; a tie goes to the earliest date, as Series.mode() orders them.
    ranked = counts.sort_values(["film_id", "days", "opening"], ascending=[True, False, True])
    return ranked.drop_duplicates("film_id").set_index("film_id")["opening"]


def _from_daily_rows(rows: pd.DataFrame, film_values: pd.DataFrame, source: str, report: Report) -> BoxOfficeData:
    daily = pd.DataFrame({
        "film_id": rows["film_id"],
        "date": rows["date"],
        "title": rows["film_id"].map(film_values["title"]),
        "gross": rows["gross"],
        "theaters": rows["theaters"],
        "distributor": rows["film_id"].map(film_values["distributor"]) if "distributor" in film_values else np.nan,
        "day_of_run": np.nan,
    }).reset_index(drop=True)
    first_dates = daily.groupby("film_id")["date"].min()
    given = film_values["release_date"].dropna()
    release_dates = given.reindex(first_dates.index).fillna(first_dates) if len(given) else None
    if release_dates is not None:
        _warn_previews(daily, release_dates, report)
    return from_daily(daily, source, release_dates, min_chart_films=WHOLE_CHART_FILMS)


def _warn_previews(daily: pd.DataFrame, release_dates: pd.Series, report: Report) -> None:
    early = daily[daily["date"] < daily["film_id"].map(release_dates)]
    for film_id, days in early.groupby("film_id")["date"]:
        report.warn(f"film {film_id!r}: {len(days)} day(s) before its release_date "
                    f"{release_dates[film_id]:%Y-%m-%d} (previews) belong to no week of run and are left out "
                    "of the weekly table")


def _from_weekly_rows(rows: pd.DataFrame, film_values: pd.DataFrame, source: str) -> BoxOfficeData:
    """The weekly table from given weeks: each is a full week; a missing week number is a gap; the
    days of a week are unknown (``day_gross_*`` NaN)."""
    weekly = pd.DataFrame({
        "film_id": rows["film_id"], "week": rows["week"], "gross": rows["gross"], "days_present": 7,
        "theaters_max": rows["theaters"], "theaters_mean": rows["theaters"],
    }).reset_index(drop=True)
    weekly = _fill_missing_weeks(weekly)  # same gap rows as the daily path: 0 days, gross NaN
    weekly[DAY_GROSS_COLUMNS] = np.nan  # a weekly file says nothing about the days inside its weeks
    release = weekly["film_id"].map(film_values["release_date"])
    weekly["week_start"] = release + pd.to_timedelta(7 * (weekly["week"] - 1), unit="D")
    weekly["full_week"] = weekly["days_present"] == 7
    weekly["cum_gross"] = weekly.groupby("film_id")["gross"].cumsum()
    weekly["usable"] = weekly.groupby("film_id")["full_week"].cummin()
    weekly["gross"] = weekly["gross"].astype(float)
    films = _weekly_films(weekly[WEEKLY_COLUMNS], film_values)
    return BoxOfficeData(weekly=weekly[WEEKLY_COLUMNS], films=films,
                         market=pd.DataFrame(columns=MARKET_COLUMNS), source=source)


def _weekly_films(weekly: pd.DataFrame, film_values: pd.DataFrame) -> pd.DataFrame:
    """The films table as ``weekly.film_summary`` builds it, from weeks instead of days."""
    by_film = weekly.groupby("film_id")
    films = pd.DataFrame({"film_id": film_values.index})
    films["title"] = films["film_id"].map(film_values["title"])
    films["release_date"] = films["film_id"].map(film_values["release_date"])
    films["distributor"] = films["film_id"].map(film_values["distributor"]) if "distributor" in film_values else np.nan
    films["opening_theaters"] = films["film_id"].map(weekly[weekly["week"] == 1].set_index("film_id")["theaters_max"])
    films["usable_weeks"] = films["film_id"].map(by_film["usable"].sum()).fillna(0).astype(int)
    films["total_gross"] = films["film_id"].map(by_film["gross"].sum())
    return films[FILM_COLUMNS].sort_values(["release_date", "film_id"]).reset_index(drop=True)


def _check_run_lengths(weekly: pd.DataFrame, rows: pd.DataFrame, kind: str, report: Report) -> set[str]:
    """Films with fewer than ``report.min_weeks`` usable weeks are rejected; a run cut short is noted."""
    runs = _run_summary(weekly)
    first_rows = pd.Series(rows.index, index=rows.index).groupby(rows["film_id"].to_numpy(), sort=False).min()
    runs = runs.reindex(first_rows.index).assign(first_row=first_rows)
    no_weeks = runs[runs["usable"].isna()]
    for film_id, run in no_weeks.iterrows():  # every day fell before the given release_date
        report.problem(film_id, run["first_row"], "release_date", "no day of this film is on or after its release_date",
                       "Check the release_date: it is the opening day, the first day of week 1.")
    short = runs[runs["usable"] < report.min_weeks]
    for film_id, run in short.iterrows():
        _report_short_run(film_id, run, kind, report)
    _warn_cut_short(runs[(runs["usable"] >= report.min_weeks) & runs["gap_week"].notna()], report)
    return set(no_weeks.index) | set(short.index)


def _run_summary(weekly: pd.DataFrame) -> pd.DataFrame:
    """Per film: usable weeks, opening day, and the first week that is not full (gap)."""
    by_film = weekly.groupby("film_id", sort=False)
    runs = pd.DataFrame({"usable": by_film["usable"].sum(), "opening": by_film["week_start"].min()})
    gaps = weekly[~weekly["full_week"].astype(bool)].drop_duplicates("film_id").set_index("film_id")
    return runs.assign(gap_week=gaps["week"], gap_days=gaps["days_present"])


def _warn_cut_short(runs: pd.DataFrame, report: Report) -> None:
    """One warning for all films whose usable run stops at a partial or missing week."""
    if runs.empty:
        return
    shown = [f"{film_id!r} (usable weeks 1-{run['usable']:.0f}; week {run['gap_week']:.0f} has "
             f"{run['gap_days']:.0f} of 7 days)" for film_id, run in runs.head(10).iterrows()]
    more = f" and {len(runs) - 10} more" if len(runs) > 10 else ""
    report.warn(f"{len(runs)} film{'s' * (len(runs) > 1)}: the usable run stops at a partial or missing week "
                f"(later weeks are kept, flagged not usable): {', '.join(shown)}{more}")


def _report_short_run(film_id: str, run: pd.Series, kind: str, report: Report) -> None:
    usable, has_gap, needed = int(run["usable"]), pd.notna(run["gap_week"]), report.min_weeks
    need = (f"at least {needed} are needed to forecast or fit a decay" if needed > 1
            else "at least 1 is needed to forecast")
    if kind == "daily":
        why = f"week {run['gap_week']:.0f} has {run['gap_days']:.0f} of 7 days" if has_gap else "the file ends there"
        problem = (f"only {usable} full week{'s' * (usable != 1)} from opening day {run['opening']:%Y-%m-%d} "
                   f"({why}); {need}")
        fix = f"Give at least the first {7 * needed} days of the run, every day present, or leave the film out."
    else:
        why = f"week {run['gap_week']:.0f} is missing" if has_gap else "the file ends there"
        problem = f"only {usable} week{'s' * (usable != 1)} of run from week 1 ({why}); {need}"
        fix = (f"Give at least the first {needed} week{'s' * (needed > 1)} of the run, no week missing, "
               "or leave the film out.")
    report.problem(film_id, run["first_row"], "date" if kind == "daily" else "week", problem, fix)
