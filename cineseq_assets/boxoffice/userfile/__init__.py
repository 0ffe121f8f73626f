"""Load and validate a user's own box office file: CSV or Parquet, daily or weekly, long format.

One row per film-day (a *daily* file, with a ``date`` column) or per film-week (a *weekly*
file, with a ``week`` column: 1 = opening week). Per-film values such as ``title`` may be
repeated on every row of the film or given once; the first non-empty value is used.

==============  ==========================================  =========================================
column          daily file                                  weekly file
==============  ==========================================  =========================================
film_id         required: any text, one id per film         required
date            required: YYYY-MM-DD                        (absent: a file has date or week, not both)
week            (absent)                                    required: 1, 2, 3, ... counted from opening
gross           required: US dollars that day               required: US dollars that week
theaters        optional, recommended (empty allowed)       optional, recommended (empty allowed)
release_date    optional: else from day_of_run or the       required: weeks are counted from it
                first date (opening day)
title           optional (defaults to film_id)              optional
distributor     optional                                    optional
genres          optional, '|'-separated: Drama|Mystery      optional
budget          optional, US dollars                        optional
mpaa            optional: PG-13                             optional
runtime         optional, minutes                           optional
day_of_run      optional: 1 = opening day; dates opening    ignored (with a warning)
==============  ==========================================  =========================================

The Box Office Mojo daily chart's own column names are understood too, so a file with exactly
the columns of ``shared/data/raw/bom_daily_tjwaterman99`` loads: ``release_id`` is the film_id,
``daily_gross`` the gross and ``days_in_release`` the day_of_run (each only where the file lacks
our name); the chart's other columns (rank, pct_change_yd, gross_to_date, ...) are ignored quietly.

A weekly file, for example::

    film_id,week,title,release_date,gross,theaters
    arrival-2016,1,Arrival,2016-11-11,31570799,2317
    arrival-2016,2,Arrival,2016-11-11,19536764,2442
    arrival-2016,3,Arrival,2016-11-11,14670951,2442

Files: ``.csv`` (UTF-8), ``.csv.gz``, ``.parquet`` / ``.pq``. Column names match
case-insensitively, ignoring surrounding spaces ("Film ID" is ``film_id``). Numbers may carry a
leading "$" and thousands separators. Rows are numbered as a spreadsheet or text editor numbers
them, the header being row 1 (a Parquet file's rows are counted the same way).

Whole-file problems (missing file, unsupported type, empty, not UTF-8, missing or misnamed
columns, both or neither of date/week) raise ``InputFileError``. A problem in one film's rows
(a gross that is not a number or is negative, a duplicate day or week, an unreadable date or week,
negative theaters, conflicting release dates, fewer usable weeks than ``min_weeks``) leaves that film out:
its message is kept in ``BoxOfficeData.rejected`` and the other films load. Repairs (unsorted
rows, skipped empty rows, ignored columns, unreadable optional metadata) are logged on the
``cineseq.userfile`` logger and appended to ``warnings`` when a list is passed; left-out films
get one summary warning on the logger. The full format is in docs/user_data.md.

The work is split by concern: ``reading`` (file types, gzip, Parquet, CSV records), ``columns``
(mapping the user's names onto ours), ``cells`` and ``rows`` (parsing and checking values),
``build`` (the BoxOfficeData tables); ``report`` collects what was found. This module is the entry.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from ...errors import FilmDataError, InputFileError
from ..sources import BoxOfficeData
from .build import MIN_USABLE_WEEKS, build_checked
from .columns import match_columns
from .reading import read_table
from .report import Report, logger, quoted
from .rows import check_duplicates, check_overlong_rows, check_release_dates, check_run_spans, sorted_runs, typed_rows

__all__ = ["MIN_USABLE_WEEKS", "load_user_file", "validate_film"]


def load_user_file(path, warnings: list | None = None, *, min_weeks: int = MIN_USABLE_WEEKS) -> BoxOfficeData:
    """Read a user's daily or weekly box office file into the weekly, film and market tables.

    Raises ``InputFileError`` for a problem with the whole file. A film with a bad row, or with
    fewer than ``min_weeks`` usable weeks, is left out and its message kept in ``rejected``;
    repairs are logged and appended to ``warnings``.
    """
    if min_weeks < 1:
        raise ValueError(f"min_weeks must be at least 1, got {min_weeks}")
    path = Path(path).expanduser()
    report = Report(path, warnings, min_weeks)
    table, overlong_rows = read_table(path)
    width = len(table.columns)
    kind = match_columns(table, report)
    _check_unique_columns(table, report)
    table = table[list(report.headers.values())].set_axis(list(report.headers), axis=1)
    rows = typed_rows(table, kind, report)
    check_overlong_rows(rows, overlong_rows, width, report)
    check_duplicates(rows, kind, report)
    check_release_dates(rows, kind, report)
    check_run_spans(rows, kind, report)
    rows = sorted_runs(rows, kind, report)
    data = build_checked(rows, kind, report)
    data.rejected = {film_id: str(error) for film_id, error in report.film_errors().items()}
    _log_rejections(data.rejected, path)
    return data


def _check_unique_columns(table, report: Report) -> None:
    """A column the format reads must be named once: with two, which one holds the values?"""
    names = list(table.columns)
    twice = [name for name in report.headers.values() if names.count(name) > 1]
    if twice:
        raise InputFileError(path=report.path, problem=f"has the column {str(twice[0])!r} {names.count(twice[0])} times",
                             fix="Keep one of them: rename or delete the others.")


def validate_film(data: BoxOfficeData, film_id: str) -> None:
    """Raise ``FilmDataError`` unless ``film_id`` loaded cleanly (the per-film asset's guard)."""
    if film_id in data.rejected:
        error = FilmDataError(film_id, "was left out when the file was loaded", source=data.source)
        # The stored message already names the file, row and column: raise it word for word.
        error.args = (data.rejected[film_id],)
        raise error
    known = data.films["film_id"].astype(str).tolist() if len(data.films) else []
    if film_id in known:
        return
    close = difflib.get_close_matches(film_id, known + list(data.rejected), n=3, cutoff=0.5)
    hint = (f"Did you mean {quoted(close, ' or ')}?" if close
            else f"Film ids in it include {quoted(known[:5])}." if known else "No film in it loaded.")
    raise FilmDataError(film_id, "is not in this source", hint, source=data.source)


def _log_rejections(rejected: dict[str, str], path: Path) -> None:
    """One warning naming the films left out; each film's full message at INFO (it is in ``rejected``)."""
    if not rejected:
        return
    for message in rejected.values():
        logger.info("%s", message)
    more = f" and {len(rejected) - 5} more" if len(rejected) > 5 else ""
    logger.warning("%s: %d film%s left out (see BoxOfficeData.rejected for why): %s%s", path, len(rejected),
                   "s" * (len(rejected) > 1), quoted(list(rejected)[:5]), more)
