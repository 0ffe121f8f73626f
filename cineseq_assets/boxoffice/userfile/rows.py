"""Row checks: every column parsed and checked, film by film. A bad cell, a duplicate day or week or
conflicting release dates leave the film out (a problem on the report); repairs are warnings."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ...errors import clipped
from ..schema import FILM_GENRES, MPAA_RATINGS
from .cells import as_dates, as_genres, as_numbers, as_texts, cell_text, is_present
from .columns import NUMBER_FILM_COLUMNS, TEXT_FILM_COLUMNS
from .limits import (
    FIRST_YEAR,
    LAST_YEAR,
    MAX_BUDGET,
    MAX_DAY_GROSS,
    MAX_RUN_DAYS,
    MAX_RUNTIME_MINUTES,
    MAX_THEATERS,
    MAX_WEEK,
    MAX_WEEK_GROSS,
    money,
)
from .report import Report, logger, quoted, rows_text

_ISO_YEAR = re.compile(r"(\d{4})-\d{1,2}-\d{1,2}")


def typed_rows(table: pd.DataFrame, kind: str, report: Report) -> pd.DataFrame:
    """Every column parsed to its type; rows without a film_id or gross skipped with a warning."""
    film_ids = as_texts(table["film_id"])
    skip_warning(film_ids.isna(), "no film_id; skipped", report)
    table = table[film_ids.notna()]
    rows = pd.DataFrame({"film_id": film_ids[film_ids.notna()].astype(str)}, index=table.index)
    _check_film_ids(rows, report)
    gross_missing = ~is_present(table["gross"])
    skip_warning(gross_missing, "empty gross; skipped (a missing day or week is missing, never zero)", report)
    rows["gross"] = _checked_numbers(table["gross"], rows, "gross", report, kind)
    rows["theaters"] = (_checked_numbers(table["theaters"], rows, "theaters", report, kind)
                        if "theaters" in table else np.nan)
    if "theaters" not in table:
        logger.info("%s: no theaters column; theaters will be empty", report.path)
    if kind == "daily":
        rows["date"] = _checked_dates(table["date"], rows, "date", report, required=True)
    else:
        rows["week"] = _checked_weeks(table["week"], rows, report)
    rows["release_date"] = (_checked_dates(table["release_date"], rows, "release_date", report, required=False)
                            if "release_date" in table else pd.NaT)
    _add_day_of_run(rows, table, kind, report)
    _add_film_values(rows, table, report)
    return rows[~gross_missing[rows.index]]


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection); film ids are
# written to output CSVs and printed one per line, so an id may not start with them or hold a line break.
_FORMULA_STARTS = ("=", "+", "-", "@")
_MAX_FILM_ID_CHARS = 200


def _check_film_ids(rows: pd.DataFrame, report: Report) -> None:
    first_rows = pd.Series(rows.index, index=rows.index).groupby(rows["film_id"].to_numpy(), sort=False).min()
    for film_id, row in first_rows.items():
        if film_id.startswith(_FORMULA_STARTS):
            problem = f"film_id starts with {film_id[0]!r}, which a spreadsheet runs as a formula"
        elif not film_id.isprintable():
            problem = "film_id holds a line break or another control character"
        elif len(film_id) > _MAX_FILM_ID_CHARS:
            problem = f"film_id is {len(film_id):,} characters long (at most {_MAX_FILM_ID_CHARS})"
        else:
            continue
        report.problem(film_id, row, "film_id", problem,
                       "Use a short id that starts with a letter or digit, on one line (e.g. arrival-2016).")


def skip_warning(skipped: pd.Series, what: str, report: Report) -> None:
    if skipped.any():
        report.warn(f"{rows_text(skipped.index[skipped.to_numpy()])}: {what}")


def _checked_numbers(values: pd.Series, rows: pd.DataFrame, column: str, report: Report, kind: str) -> pd.Series:
    """A gross or theater count: a value that is not a number, is negative or is beyond any film's
    (limits.py) rejects the film."""
    parsed, bad = as_numbers(values[rows.index])
    what = "gross" if column == "gross" else "theater count"
    for row in bad.index[bad.to_numpy()]:
        report.problem(rows.at[row, "film_id"], row, column, f"{column} {clipped(repr(values[row]), 100)} is not a number",
                       f"Write the {what} as a plain number, e.g. {'21782199' if column == 'gross' else '3792'}.")
    for row in parsed.index[(parsed < 0).to_numpy()]:
        report.problem(rows.at[row, "film_id"], row, column, f"{column} {cell_text(values[row])} is negative",
                       f"A {what} cannot be below zero: correct the value or leave the row out.")
    limit, unit = _upper_bound(column, kind)
    for row in parsed.index[(parsed > limit).to_numpy()]:
        shown = money(limit) if column == "gross" else f"{limit:,.0f}"
        report.problem(rows.at[row, "film_id"], row, column,
                       f"{column} {cell_text(values[row])} is more than any film has had ({shown} {unit})",
                       f"Check the {what}: it is in {'US dollars' if column == 'gross' else 'theaters'} "
                       f"for one {'day' if kind == 'daily' else 'week'}, not cumulative or in cents.")
    return parsed


def _upper_bound(column: str, kind: str) -> tuple[float, str]:
    if column == "theaters":
        return MAX_THEATERS, "theaters"
    return (MAX_DAY_GROSS, "a day") if kind == "daily" else (MAX_WEEK_GROSS, "a week")


def _checked_dates(values: pd.Series, rows: pd.DataFrame, column: str, report: Report, required: bool) -> pd.Series:
    parsed, bad = as_dates(values[rows.index])
    if required:
        bad = bad | parsed.isna()
    for row in bad.index[bad.to_numpy()]:
        shown = f"{clipped(repr(values[row]), 100)} is not a date" if cell_text(values[row]) else "is empty"
        year = _ISO_YEAR.fullmatch(cell_text(values[row]))
        if year and not FIRST_YEAR <= int(year[1]) <= LAST_YEAR:  # a date pandas cannot hold (before 1677, after 2262)
            shown = f"{cell_text(values[row])} is not in the years {FIRST_YEAR}-{LAST_YEAR}"
        report.problem(rows.at[row, "film_id"], row, column, f"{column} {shown}",
                       "Write dates as YYYY-MM-DD, e.g. 2010-07-16.")
    years = parsed.dt.year
    outside = ((years < FIRST_YEAR) | (years > LAST_YEAR)).to_numpy()
    for row in parsed.index[outside]:
        report.problem(rows.at[row, "film_id"], row, column,
                       f"{column} {clipped(cell_text(values[row]), 100)} is not in the years {FIRST_YEAR}-{LAST_YEAR}",
                       f"Check the year: CineSeq forecasts films released from {FIRST_YEAR} to {LAST_YEAR}.")
    # The film is refused already; later checks (which print dates) never see a year they cannot format.
    return parsed.mask(outside)


def _checked_weeks(values: pd.Series, rows: pd.DataFrame, report: Report) -> pd.Series:
    parsed, _ = as_numbers(values[rows.index])
    bad = parsed.isna() | (parsed < 1) | (parsed % 1 != 0)
    for row in bad.index[bad.to_numpy()]:
        shown = f"{clipped(repr(values[row]), 100)} is not a week number" if cell_text(values[row]) else "is empty"
        report.problem(rows.at[row, "film_id"], row, "week", f"week {shown}",
                       "Weeks of run are whole numbers: 1 for the opening week, 2 for the next, and so on.")
    # Missing weeks become gap rows up to the highest week: the bound keeps that table small.
    beyond = ~bad & (parsed > MAX_WEEK)
    for row in beyond.index[beyond.to_numpy()]:
        report.problem(rows.at[row, "film_id"], row, "week",
                       f"week {cell_text(values[row])} is beyond the longest run accepted (week {MAX_WEEK}, 30 years)",
                       "Weeks count from the opening week (1 = opening week): check the number.")
    return parsed.where(~(bad | beyond), 0).astype(int)


def _add_day_of_run(rows: pd.DataFrame, table: pd.DataFrame, kind: str, report: Report) -> None:
    """Day numbers of a daily file (1 = opening day); '-' (the chart's "unknown") counts as empty.

    A value that is not a whole number >= 1 is left empty with a warning: the opening day then
    comes from the film's other rows.
    """
    if "day_of_run" not in table:
        return
    column = report.headers["day_of_run"]
    if kind == "weekly":
        report.warn(f"column {column!r} (day of run) is ignored in a weekly file: weeks count from release_date")
        return
    values = table.loc[rows.index, "day_of_run"]
    values = values.where(as_texts(values).ne("-"))
    parsed, bad = as_numbers(values)
    bad = bad | (parsed.notna() & ((parsed < 1) | (parsed % 1 != 0) | (parsed > MAX_RUN_DAYS)))
    skip_warning(bad, f"{column} is not a day number (1 = opening day, at most {MAX_RUN_DAYS}); left empty", report)
    rows["day_of_run"] = parsed.where(~bad)


def _add_film_values(rows: pd.DataFrame, table: pd.DataFrame, report: Report) -> None:
    """Per-film text and metadata columns; unreadable budget or runtime is dropped with a warning."""
    for column in TEXT_FILM_COLUMNS:
        if column in table:
            rows[column] = (as_genres if column == "genres" else as_texts)(table.loc[rows.index, column])
    _warn_unknown_vocabulary(rows, report)
    for column in NUMBER_FILM_COLUMNS:
        if column not in table:
            continue
        parsed, bad = as_numbers(table.loc[rows.index, column])
        limit = MAX_BUDGET if column == "budget" else MAX_RUNTIME_MINUTES
        bad = bad | (parsed < 0) | (parsed > limit)
        shown = money(limit) if column == "budget" else f"{limit:,} minutes"
        skip_warning(bad, f"{column} is not a non-negative number (at most {shown}); left empty (it is optional)", report)
        rows[column] = parsed.where(~bad)


def _warn_unknown_vocabulary(rows: pd.DataFrame, report: Report) -> None:
    """Genres and MPAA ratings the forecaster does not read are kept in the films table but count as
    unknown: say so, once per name, rather than forecast as if they had been understood."""
    if "genres" in rows:
        names = {name for text in rows["genres"].dropna().unique() for name in str(text).split("|")}
        unknown = sorted(names - set(FILM_GENRES))
        if unknown:
            report.warn(f"genre{'s' * (len(unknown) > 1)} {quoted(unknown[:10])} not known to the forecaster, "
                        f"read as no genre (known: {', '.join(FILM_GENRES)})")
    if "mpaa" in rows:
        unknown = sorted(set(rows["mpaa"].dropna().unique()) - set(MPAA_RATINGS) - {"Not Rated"})
        if unknown:
            report.warn(f"MPAA rating{'s' * (len(unknown) > 1)} {quoted(unknown[:10])} not known to the forecaster, "
                        f"read as unrated (known: {', '.join(MPAA_RATINGS)}, Not Rated)")


def check_overlong_rows(rows: pd.DataFrame, overlong: dict[int, int], width: int, report: Report) -> None:
    for row, fields in overlong.items():
        if row in rows.index:
            report.problem(rows.at[row, "film_id"], row, None,
                           f"row has {fields} values but the header has {width} columns",
                           "Put a value that contains a comma in double quotes, or remove the extra values.")


def check_duplicates(rows: pd.DataFrame, kind: str, report: Report) -> None:
    """A film-day (or film-week) given twice rejects the film: we cannot tell which one is right."""
    time = "date" if kind == "daily" else "week"
    valid = rows[rows[time].notna() & (rows[time] != 0)] if kind == "weekly" else rows[rows[time].notna()]
    row_numbers = pd.Series(valid.index, index=valid.index)
    first_row = row_numbers.groupby([valid["film_id"], valid[time]]).transform("min").to_numpy()
    for row, first in zip(valid.index, first_row):
        if row != first:
            value = valid.at[row, time]
            shown = value.strftime("%Y-%m-%d") if kind == "daily" else int(value)
            report.problem(valid.at[row, "film_id"], row, time, f"{time} {shown} appears twice for this film "
                           f"(rows {first} and {row})",
                           f"Keep one row per film and {'day' if kind == 'daily' else 'week'}: "
                           "remove the duplicate, or add the two grosses into one row.")


def check_release_dates(rows: pd.DataFrame, kind: str, report: Report) -> None:
    """One opening day per film; a weekly file cannot count weeks without it."""
    given = rows[rows["release_date"].notna()]
    first = given.groupby("film_id")["release_date"].transform("first")
    first_row = pd.Series(given.index, index=given.index).groupby(given["film_id"]).transform("min")
    # Filter after assigning: a column assigned to an empty frame would bring back the rows.
    differs = given.assign(first=first, first_row=first_row)[(given["release_date"] != first).to_numpy()]
    for row, film in differs.drop_duplicates("film_id").iterrows():
        report.problem(film["film_id"], row, "release_date",
                       f"release_date {film['release_date']:%Y-%m-%d} differs from {film['first']:%Y-%m-%d} "
                       f"on row {film['first_row']}",
                       "A film has one opening day: use the same release_date on every row, or give it once.")
    if kind == "weekly":
        undated = rows[~rows["film_id"].isin(given["film_id"])].drop_duplicates("film_id")
        for row, film_id in undated["film_id"].items():
            report.problem(film_id, row, "release_date", "release_date is empty on every row of this film",
                           "Weeks are counted from the opening day: give the film's release_date (YYYY-MM-DD).")


def sorted_runs(rows: pd.DataFrame, kind: str, report: Report) -> pd.DataFrame:
    """A file need not be sorted: each film's rows are put in date (week) order, with a warning."""
    time = "date" if kind == "daily" else "week"
    in_file_order = rows.sort_index()
    previous = in_file_order.groupby("film_id")[time].shift()
    unsorted = in_file_order.loc[in_file_order[time] < previous, "film_id"].unique().tolist()
    if unsorted:
        more = f" and {len(unsorted) - 10} more" if len(unsorted) > 10 else ""
        report.warn(f"rows of film{'s' * (len(unsorted) > 1)} {quoted(unsorted[:10])}{more} were not in {time} "
                    f"order and were sorted by {time}")
    return rows.sort_values(["film_id", time], kind="stable")


def check_run_spans(rows: pd.DataFrame, kind: str, report: Report) -> None:
    """A daily film's days span at most ``MAX_RUN_DAYS`` from its opening (release_date, else first day):
    every week in between becomes a row of the weekly table, so the span bounds its size."""
    if kind != "daily" or rows.empty:
        return
    dated = rows[rows["date"].notna()]
    by_film = dated.groupby("film_id", sort=False)
    start = by_film["date"].min()
    given = rows.groupby("film_id", sort=False)["release_date"].min().reindex(start.index)
    start = start.where(~(given < start), given)
    last_row = by_film["date"].idxmax()
    span = (by_film["date"].max() - start).dt.days
    for film_id in span.index[(span > MAX_RUN_DAYS).to_numpy()]:
        row = last_row[film_id]
        report.problem(film_id, row, "date",
                       f"date {rows.at[row, 'date']:%Y-%m-%d} is {span[film_id]:,} days after the film's opening "
                       f"{start[film_id]:%Y-%m-%d}; at most {MAX_RUN_DAYS:,} days ({MAX_WEEK} weeks, 30 years) are accepted",
                       "Check the year of the dates and of the release_date; give one film's run per film_id.")
