"""The user's column names mapped onto ours: case and spacing ignored, the Box Office Mojo chart's
names understood, near misses suggested (never applied), and the file kind (daily or weekly)."""

from __future__ import annotations

import difflib
import re

import pandas as pd

from ...errors import InputFileError
from .cells import is_present
from .reading import FORMAT_DOC
from .report import Report, logger, quoted

REQUIRED_COLUMNS = ("film_id", "gross")
TIME_COLUMNS = ("date", "week")  # exactly one: it decides whether the file is daily or weekly
TEXT_FILM_COLUMNS = ("title", "distributor", "genres", "mpaa")
NUMBER_FILM_COLUMNS = ("budget", "runtime")
OPTIONAL_COLUMNS = ("theaters", "release_date") + TEXT_FILM_COLUMNS + NUMBER_FILM_COLUMNS + ("day_of_run",)
KNOWN_COLUMNS = REQUIRED_COLUMNS + TIME_COLUMNS + OPTIONAL_COLUMNS
# Film metadata that the films table carries beyond schema.FILM_COLUMNS, when the file has it.
EXTRA_FILM_COLUMNS = ("genres", "budget", "mpaa", "runtime")

# The Box Office Mojo daily chart's names for our columns (shared/data/raw/bom_daily_tjwaterman99),
# so that a file with exactly the chart's columns loads. Applied only when the file does not also
# have our name for the column: then the chart's column is ignored like any other.
CHART_ALIASES = {"release_id": "film_id", "daily_gross": "gross", "days_in_release": "day_of_run"}
# The chart's other columns: about the chart rather than the film, or derived from the columns
# above. Ignored without a warning (logged at INFO).
CHART_ONLY_COLUMNS = ("rank", "rank_yesterday", "pct_change_yd", "pct_change_lw", "avg_per_theater",
                      "gross_to_date", "new_this_day", "estimated")

# Names people commonly use for our columns that difflib would not find close enough. Only ever
# suggested, never applied: renaming a column silently could pick the wrong one of two.
COMMON_NAMES = {
    "movie_id": "film_id", "id": "film_id", "movie": "title", "name": "title",
    "revenue": "gross", "box_office": "gross", "day": "date", "week_number": "week",
    "week_of_run": "week", "screens": "theaters", "locations": "theaters",
    "opening_date": "release_date", "release": "release_date", "studio": "distributor",
    "rating": "mpaa", "genre": "genres",
}


def normalize(name: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def match_columns(table: pd.DataFrame, report: Report) -> str:
    """Map the file's columns onto ours (into ``report.headers``); return "daily" or "weekly"."""
    for name in table.columns:
        key = normalize(name)
        if key in KNOWN_COLUMNS and key in report.headers:
            raise InputFileError(report.path, f"has two columns that both mean {key!r}: "
                                 f"{report.headers[key]!r} and {name!r}", "Keep one of them.")
        if key in KNOWN_COLUMNS:
            report.headers[key] = name
    _apply_chart_aliases(table, report)
    unmatched = [name for name in table.columns if name not in report.headers.values()]
    _require_columns(table, unmatched, report)
    kind = _file_kind(table, unmatched, report)
    _warn_ignored(table, report)
    return kind


def _apply_chart_aliases(table: pd.DataFrame, report: Report) -> None:
    """The Box Office Mojo chart's names (release_id, daily_gross, days_in_release) for columns the file
    does not name our way."""
    for name in table.columns:
        ours = CHART_ALIASES.get(normalize(name))
        if ours and ours not in report.headers:
            report.headers[ours] = name


def _suggestion(column: str, unmatched: list) -> str:
    """' (did you mean 'Gross_USD'?)' when one of the file's unused columns looks like ``column``."""
    by_key = {normalize(name): name for name in unmatched}
    common = [key for key, ours in COMMON_NAMES.items() if ours == column and key in by_key]
    close = common or difflib.get_close_matches(column, list(by_key), n=1, cutoff=0.6)
    return f" (did you mean {by_key[close[0]]!r}?)" if close else ""


def _found(table: pd.DataFrame) -> str:
    found = f"columns found: {', '.join(map(str, table.columns))}"
    if len(table.columns) == 1 and re.search(r"[;\t|]", str(table.columns[0])):
        found += " (one column: the file seems to use another separator than ',')"
    return found


def _require_columns(table: pd.DataFrame, unmatched: list, report: Report) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in report.headers]
    if not missing:
        return
    named = ", ".join(f"{column!r}{_suggestion(column, unmatched)}" for column in missing)
    problem = f"is missing required column{'s' * (len(missing) > 1)} {named}; {_found(table)}"
    raise InputFileError(report.path, problem,
                         f"Name the column{'s' * (len(missing) > 1)} {quoted(missing, ' and ')} in the header row "
                         f"(any letter case), with ',' between columns; see {FORMAT_DOC}.")


def _file_kind(table: pd.DataFrame, unmatched: list, report: Report) -> str:
    has_date, has_week = "date" in report.headers, "week" in report.headers
    if has_date and has_week:
        raise InputFileError(report.path, "has both a 'date' column and a 'week' column",
                             "A file is either daily (date) or weekly (week): remove one, or split it in two.")
    if not (has_date or has_week):
        hint = _suggestion("date", unmatched) or _suggestion("week", unmatched)
        raise InputFileError(report.path, f"has neither a 'date' column (daily file) nor a 'week' column "
                             f"(weekly file){hint}; {_found(table)}",
                             "Name the column 'date' for one row per film-day, or 'week' (1 = opening week) "
                             "for one row per film-week.")
    if has_week and "release_date" not in report.headers:
        raise InputFileError(report.path, f"is a weekly file (it has a 'week' column) but has no 'release_date' "
                             f"column{_suggestion('release_date', unmatched)}; {_found(table)}",
                             "Weeks are counted from each film's opening day: add a release_date column (YYYY-MM-DD).")
    return "daily" if has_date else "weekly"


def _warn_ignored(table: pd.DataFrame, report: Report) -> None:
    """Unknown columns are ignored, but a near-miss like 'theatres' is pointed out."""
    # An unnamed, empty column is what a trailing comma in a spreadsheet export leaves: no warning.
    matched = set(report.headers.values())
    unused = [(position, name) for position, name in enumerate(table.columns) if name not in matched]
    chart = [name for _, name in unused if normalize(name) in CHART_ONLY_COLUMNS]
    if chart:
        logger.info("%s: Box Office Mojo chart columns ignored: %s", report.path, ", ".join(map(str, chart)))
    used = [name for position, name in unused if normalize(name) not in CHART_ONLY_COLUMNS
            and (str(name).strip() or is_present(table.iloc[:, position]).any())]
    if not used:
        return
    free = [column for column in KNOWN_COLUMNS if column not in report.headers]
    named = ", ".join(f"{str(name)!r}{_suggestion_for_unknown(name, free)}" for name in used)
    report.warn(f"ignored column{'s' * (len(used) > 1)} that the format does not use: {named}")


def _suggestion_for_unknown(name, free: list[str]) -> str:
    key = normalize(name)
    close = [COMMON_NAMES[key]] if COMMON_NAMES.get(key) in free else difflib.get_close_matches(key, free, 1, 0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""
