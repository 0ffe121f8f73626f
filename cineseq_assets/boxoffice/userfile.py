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
"""

from __future__ import annotations

import codecs
import csv
import difflib
import gzip
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import FilmDataError, InputFileError
from .schema import FILM_COLUMNS, MARKET_COLUMNS, WEEKLY_COLUMNS
from .sources import BoxOfficeData, from_daily
from .weekly import _fill_missing_weeks

logger = logging.getLogger("cineseq.userfile")

REQUIRED_COLUMNS = ("film_id", "gross")
TIME_COLUMNS = ("date", "week")  # exactly one: it decides whether the file is daily or weekly
TEXT_FILM_COLUMNS = ("title", "distributor", "genres", "mpaa")
NUMBER_FILM_COLUMNS = ("budget", "runtime")
OPTIONAL_COLUMNS = ("theaters", "release_date") + TEXT_FILM_COLUMNS + NUMBER_FILM_COLUMNS + ("day_of_run",)
KNOWN_COLUMNS = REQUIRED_COLUMNS + TIME_COLUMNS + OPTIONAL_COLUMNS
# Film metadata that the films table carries beyond schema.FILM_COLUMNS, when the file has it.
EXTRA_FILM_COLUMNS = ("genres", "budget", "mpaa", "runtime")

# Fitting a decay needs a trend: at least two full weeks (the default). A forecast can start from
# the opening week alone: `cineseq forecast` loads with min_weeks=1.
MIN_USABLE_WEEKS = 2

# The Box Office Mojo daily chart's names for our columns (shared/data/raw/bom_daily_tjwaterman99),
# so that a file with exactly the chart's columns loads. Applied only when the file does not also
# have our name for the column: then the chart's column is ignored like any other.
CHART_ALIASES = {"release_id": "film_id", "daily_gross": "gross", "days_in_release": "day_of_run"}
# The chart's other columns: about the chart rather than the film, or derived from the columns
# above. Ignored without a warning (logged at INFO).
CHART_ONLY_COLUMNS = ("rank", "rank_yesterday", "pct_change_yd", "pct_change_lw", "avg_per_theater",
                      "gross_to_date", "new_this_day", "estimated")

FILE_TYPES = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet"}
FORMAT_DOC = "docs/user_data.md"

# Names people commonly use for our columns that difflib would not find close enough. Only ever
# suggested, never applied: renaming a column silently could pick the wrong one of two.
COMMON_NAMES = {
    "movie_id": "film_id", "id": "film_id", "movie": "title", "name": "title",
    "revenue": "gross", "box_office": "gross", "day": "date", "week_number": "week",
    "week_of_run": "week", "screens": "theaters", "locations": "theaters",
    "opening_date": "release_date", "release": "release_date", "studio": "distributor",
    "rating": "mpaa", "genre": "genres",
}

# "$1,234,567" is how box office is usually written; commas count only as thousands separators
# so that a decimal comma ("1234,5") is reported rather than read as 12345.
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")

# Dates from a Parquet date column get the unit pandas gives dates parsed from text, so that a
# CSV and a Parquet copy of the same file load into identical tables.
_DATE_DTYPE = pd.to_datetime(pd.Series(["2000-01-01"])).dtype


@dataclass(frozen=True)
class _Problem:
    """One thing wrong in one film's rows."""

    film_id: str
    row: int
    column: str | None
    problem: str
    fix: str


class _Report:
    """What loading one file found: repairs (warnings) and problems that reject a film."""

    def __init__(self, path: Path, sink: list | None, min_weeks: int = MIN_USABLE_WEEKS):
        self.path, self.sink, self.min_weeks = path, sink, min_weeks
        self.headers: dict[str, str] = {}  # our column name -> the name in the user's file
        self.problems: list[_Problem] = []
        self.warned: set[str] = set()

    def warn(self, message: str) -> None:
        """Log and keep one repair; the same one again (the tables are rebuilt without short films) is not repeated."""
        text = f"{self.path}: {message}"
        if text in self.warned:
            return
        self.warned.add(text)
        logger.warning(text)
        if self.sink is not None:
            self.sink.append(text)

    def problem(self, film_id: str, row: int, column: str | None, problem: str, fix: str) -> None:
        self.problems.append(_Problem(film_id, int(row), column, problem, fix))

    def film_errors(self) -> dict[str, FilmDataError]:
        """The first problem of each film (by row), noting how many more there are."""
        by_film: dict[str, list[_Problem]] = {}
        for problem in self.problems:
            by_film.setdefault(problem.film_id, []).append(problem)
        errors = {}
        for film_id, found in by_film.items():
            first, more = min(found, key=lambda p: p.row), len(found) - 1
            fix = first.fix + (f" ({more} more problem{'s' * (more > 1)} in this film's rows.)" if more else "")
            column = self.headers.get(first.column, first.column) if first.column else None
            errors[film_id] = FilmDataError(film_id, first.problem, fix, source=str(self.path),
                                            row=first.row, column=column)
        return errors


# ----------------------------------------------------------------------------------- public API


def load_user_file(path, warnings: list | None = None, *, min_weeks: int = MIN_USABLE_WEEKS) -> BoxOfficeData:
    """Read a user's daily or weekly box office file into the weekly, film and market tables.

    Raises ``InputFileError`` for a problem with the whole file. A film with a bad row, or with
    fewer than ``min_weeks`` usable weeks, is left out and its message kept in ``rejected``;
    repairs are logged and appended to ``warnings``.
    """
    if min_weeks < 1:
        raise ValueError(f"min_weeks must be at least 1, got {min_weeks}")
    path = Path(path).expanduser()
    report = _Report(path, warnings, min_weeks)
    table, overlong_rows = _read_table(path)
    width = len(table.columns)
    kind = _match_columns(table, report)
    table = table[list(report.headers.values())].set_axis(list(report.headers), axis=1)
    rows = _typed_rows(table, kind, report)
    _check_overlong_rows(rows, overlong_rows, width, report)
    _check_duplicates(rows, kind, report)
    _check_release_dates(rows, kind, report)
    rows = _sorted_runs(rows, kind, report)
    data = _build_checked(rows, kind, report)
    data.rejected = {film_id: str(error) for film_id, error in report.film_errors().items()}
    _log_rejections(data.rejected, path)
    return data


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
    hint = (f"Did you mean {_quoted(close, ' or ')}?" if close
            else f"Film ids in it include {_quoted(known[:5])}." if known else "No film in it loaded.")
    raise FilmDataError(film_id, "is not in this source", hint, source=data.source)


def _log_rejections(rejected: dict[str, str], path: Path) -> None:
    """One warning naming the films left out; each film's full message at INFO (it is in ``rejected``)."""
    if not rejected:
        return
    for message in rejected.values():
        logger.info("%s", message)
    more = f" and {len(rejected) - 5} more" if len(rejected) > 5 else ""
    logger.warning("%s: %d film%s left out (see BoxOfficeData.rejected for why): %s%s", path, len(rejected),
                   "s" * (len(rejected) > 1), _quoted(list(rejected)[:5]), more)


# -------------------------------------------------------------------------------- reading files


def _read_table(path: Path) -> tuple[pd.DataFrame, dict[int, int]]:
    """The file's columns as found, indexed by row number (header = 1), and rows with extra fields."""
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise InputFileError(path, what, "Check the path; give the file itself (.csv or .parquet).")
    file_type = _file_type(path)
    if path.stat().st_size == 0:
        raise InputFileError(path, "is empty (0 bytes)", _fill_in_fix())
    if file_type == "parquet":
        return _read_parquet(path), {}
    return _read_csv(path)


def _file_type(path: Path) -> str:
    name = path.name.lower()
    for suffix, file_type in sorted(FILE_TYPES.items(), key=lambda item: -len(item[0])):
        if name.endswith(suffix):
            return file_type
    shown = "".join(path.suffixes[-2:]) or "no extension"
    fix = "Save it as CSV (UTF-8) or Parquet with a .csv, .csv.gz, .parquet or .pq name."
    if name.endswith((".xlsx", ".xls", ".ods")):
        fix = "Save the sheet as 'CSV UTF-8 (comma delimited)' from the spreadsheet program."
    raise InputFileError(path, f"has an unsupported file type ({shown})", fix)


def _fill_in_fix() -> str:
    return (f"Write a header row (film_id, date or week, gross, ...) and one row per film-day or "
            f"film-week; see {FORMAT_DOC}.")


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several types for a file that is not Parquet
        problem = f"could not be read as Parquet ({type(error).__name__}: {error})"
        fix = "Check that it is a complete Parquet file, not a renamed CSV; or save it as CSV."
        raise InputFileError(path, problem, fix) from error
    if not isinstance(table.index, pd.RangeIndex):
        table = table.reset_index()  # a film_id saved as the index is still the film_id column
    table.columns = [str(name) for name in table.columns]
    if table.empty:
        raise InputFileError(path, f"has columns ({', '.join(table.columns)}) but no rows", _fill_in_fix())
    # Rows numbered as if the table were written as CSV with a header, like a spreadsheet shows it.
    return table.set_axis(pd.RangeIndex(2, len(table) + 2, name="row"))


def _read_csv(path: Path) -> tuple[pd.DataFrame, dict[int, int]]:
    text = _decode_utf8(path, _csv_bytes(path))
    header, records, rows = _csv_records(path, text)
    if header is None:
        raise InputFileError(path, "is empty (only blank lines)", _fill_in_fix())
    if not records:
        raise InputFileError(path, f"has a header ({', '.join(header)}) but no data rows", _fill_in_fix())
    width = len(header)
    # Trailing empty fields are what spreadsheets leave behind; extra values are a real problem.
    overlong = {row: len(fields) for row, fields in zip(rows, records)
                if len(fields) > width and "".join(fields[width:]).strip()}
    padded = [fields if len(fields) == width else (fields + [""] * width)[:width] for fields in records]
    table = pd.DataFrame(padded, columns=header, index=pd.Index(rows, name="row"), dtype=object)
    return table, overlong


def _csv_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise InputFileError(path, f"could not be decompressed ({error})",
                                 "Check that it is a complete gzip file, or save it as plain .csv.") from error
    if not data.strip():
        raise InputFileError(path, "is empty (no text)", _fill_in_fix())
    return data


def _decode_utf8(path: Path, data: bytes) -> str:
    """The file's text; a byte that is not UTF-8 is named by offset and line."""
    fix = ("Re-save the file as UTF-8: in Excel 'Save As > CSV UTF-8 (comma delimited)', in a text editor "
           "choose encoding UTF-8, in pandas df.to_csv(path, encoding='utf-8').")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputFileError(path, "is UTF-16 text (Excel's 'Unicode Text'), not UTF-8", fix)
    # A leading byte-order mark (Excel's "CSV UTF-8") is fine; offsets below count it.
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = bom + error.start
        bad = data[offset:offset + 1]
        line = data[:offset].count(b"\n") + 1
        guess = bad.decode("cp1252", errors="replace")
        problem = (f"is not UTF-8 text: byte 0x{bad.hex().upper()} at byte offset {offset} (line {line}) "
                   f"cannot be read (in Windows-1252/Latin-1 it would be {guess!r})")
        raise InputFileError(path, problem, fix) from error


def _csv_records(path: Path, text: str) -> tuple[list[str] | None, list[list[str]], list[int]]:
    """Header, data records and the row (line) each record starts on; blank lines are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header, records, rows, last_line = None, [], [], 0
    try:
        for fields in reader:
            first_line, last_line = last_line + 1, reader.line_num
            if not "".join(fields).strip():
                continue
            if header is None:
                header = fields
            else:
                records.append(fields)
                rows.append(first_line)
    except csv.Error as error:
        fix = "Check the quoting on that line: a value with a comma or quote must be in double quotes."
        raise InputFileError(path, f"is not valid CSV at line {reader.line_num} ({error})", fix) from error
    return header, records, rows


# ------------------------------------------------------------------------------------- columns


def _normalize(name: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def _match_columns(table: pd.DataFrame, report: _Report) -> str:
    """Map the file's columns onto ours (into ``report.headers``); return "daily" or "weekly"."""
    for name in table.columns:
        key = _normalize(name)
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


def _apply_chart_aliases(table: pd.DataFrame, report: _Report) -> None:
    """The Box Office Mojo chart's names (release_id, daily_gross, days_in_release) for columns the file
    does not name our way."""
    for name in table.columns:
        ours = CHART_ALIASES.get(_normalize(name))
        if ours and ours not in report.headers:
            report.headers[ours] = name


def _suggestion(column: str, unmatched: list) -> str:
    """' (did you mean 'Gross_USD'?)' when one of the file's unused columns looks like ``column``."""
    by_key = {_normalize(name): name for name in unmatched}
    common = [key for key, ours in COMMON_NAMES.items() if ours == column and key in by_key]
    close = common or difflib.get_close_matches(column, list(by_key), n=1, cutoff=0.6)
    return f" (did you mean {by_key[close[0]]!r}?)" if close else ""


def _found(table: pd.DataFrame) -> str:
    found = f"columns found: {', '.join(map(str, table.columns))}"
    if len(table.columns) == 1 and re.search(r"[;\t|]", str(table.columns[0])):
        found += " (one column: the file seems to use another separator than ',')"
    return found


def _require_columns(table: pd.DataFrame, unmatched: list, report: _Report) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in report.headers]
    if not missing:
        return
    named = ", ".join(f"{column!r}{_suggestion(column, unmatched)}" for column in missing)
    problem = f"is missing required column{'s' * (len(missing) > 1)} {named}; {_found(table)}"
    raise InputFileError(report.path, problem,
                         f"Name the column{'s' * (len(missing) > 1)} {_quoted(missing, ' and ')} in the header row "
                         f"(any letter case), with ',' between columns; see {FORMAT_DOC}.")


def _file_kind(table: pd.DataFrame, unmatched: list, report: _Report) -> str:
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


def _warn_ignored(table: pd.DataFrame, report: _Report) -> None:
    """Unknown columns are ignored, but a near-miss like 'theatres' is pointed out."""
    # An unnamed, empty column is what a trailing comma in a spreadsheet export leaves: no warning.
    matched = set(report.headers.values())
    unused = [(position, name) for position, name in enumerate(table.columns) if name not in matched]
    chart = [name for _, name in unused if _normalize(name) in CHART_ONLY_COLUMNS]
    if chart:
        logger.info("%s: Box Office Mojo chart columns ignored: %s", report.path, ", ".join(map(str, chart)))
    used = [name for position, name in unused if _normalize(name) not in CHART_ONLY_COLUMNS
            and (str(name).strip() or _present(table.iloc[:, position]).any())]
    if not used:
        return
    free = [column for column in KNOWN_COLUMNS if column not in report.headers]
    named = ", ".join(f"{str(name)!r}{_suggestion_for_unknown(name, free)}" for name in used)
    report.warn(f"ignored column{'s' * (len(used) > 1)} that the format does not use: {named}")


def _suggestion_for_unknown(name, free: list[str]) -> str:
    key = _normalize(name)
    close = [COMMON_NAMES[key]] if COMMON_NAMES.get(key) in free else difflib.get_close_matches(key, free, 1, 0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _quoted(names, last_joiner: str = ", ") -> str:
    """['a', 'b', 'c'] -> "'a', 'b' and 'c'" (with last_joiner=' and ')."""
    names = [repr(str(name)) for name in names]
    return ", ".join(names[:-1]) + last_joiner + names[-1] if len(names) > 1 else "".join(names)


# --------------------------------------------------------------------------------- cell values


def _present(values: pd.Series) -> pd.Series:
    """Which cells hold something: not NaN or None, and not only spaces."""
    missing = values.isna()
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return ~missing
    blank = values.where(~missing, "").astype(str).str.strip().eq("")
    return (~missing & ~blank).astype(bool)


def _cell_text(value) -> str:
    """One cell as the user typed it, for a message."""
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value).strip()


def _texts(values: pd.Series) -> pd.Series:
    """Cells as stripped text; empty cells NaN."""
    return values.astype(str).str.strip().where(_present(values))


def _numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Values as floats, and which non-empty cells are not finite numbers."""
    present = _present(values)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        parsed = values.astype(float)
    else:
        text = values.astype(str).str.strip().str.replace("$", "", n=1, regex=False)
        grouped = text.str.fullmatch(_THOUSANDS.pattern).fillna(False).astype(bool)
        text = text.where(~grouped, text.str.replace(",", "", regex=False))
        parsed = pd.to_numeric(text.where(present), errors="coerce").astype(float)
    parsed = parsed.where(np.isfinite(parsed))
    return parsed, present & parsed.isna()


def _dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Values as dates (ISO 8601: YYYY-MM-DD), and which non-empty cells are not dates."""
    present = _present(values)
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize(None) if values.dt.tz is not None else values
    else:  # text, or the datetime.date objects of a Parquet date column: both print as ISO dates
        parsed = pd.to_datetime(_texts(values), format="ISO8601", errors="coerce")
    parsed = parsed.dt.normalize().astype(_DATE_DTYPE)
    return parsed, present & parsed.isna()


def _genres(values: pd.Series) -> pd.Series:
    """'Action | Sci-Fi' -> 'Action|Sci-Fi'; ',' and ';' are taken as separators too."""
    texts = _texts(values)
    tidy = {text: "|".join(name.strip() for name in re.split(r"[|,;]", text) if name.strip()) or None
            for text in texts.dropna().unique()}  # a few distinct values repeated on many rows
    return texts.map(tidy)


# ------------------------------------------------------------------------------------ row checks


def _typed_rows(table: pd.DataFrame, kind: str, report: _Report) -> pd.DataFrame:
    """Every column parsed to its type; rows without a film_id or gross skipped with a warning."""
    film_ids = _texts(table["film_id"])
    _skip_warning(film_ids.isna(), "no film_id; skipped", report)
    table = table[film_ids.notna()]
    rows = pd.DataFrame({"film_id": film_ids[film_ids.notna()].astype(str)}, index=table.index)
    gross_missing = ~_present(table["gross"])
    _skip_warning(gross_missing, "empty gross; skipped (a missing day or week is missing, never zero)", report)
    rows["gross"] = _checked_numbers(table["gross"], rows, "gross", report)
    rows["theaters"] = (_checked_numbers(table["theaters"], rows, "theaters", report)
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


def _skip_warning(skipped: pd.Series, what: str, report: _Report) -> None:
    if skipped.any():
        report.warn(f"{_rows_text(skipped.index[skipped.to_numpy()])}: {what}")


def _rows_text(rows) -> str:
    rows = [str(row) for row in rows]
    shown = ", ".join(rows[:10]) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
    return f"row{'s' * (len(rows) > 1)} {shown}"


def _checked_numbers(values: pd.Series, rows: pd.DataFrame, column: str, report: _Report) -> pd.Series:
    """A gross or theater count: a value that is not a number, or is negative, rejects the film."""
    parsed, bad = _numbers(values[rows.index])
    what = "gross" if column == "gross" else "theater count"
    for row in bad.index[bad.to_numpy()]:
        report.problem(rows.at[row, "film_id"], row, column, f"{column} {values[row]!r} is not a number",
                       f"Write the {what} as a plain number, e.g. {'21782199' if column == 'gross' else '3792'}.")
    for row in parsed.index[(parsed < 0).to_numpy()]:
        report.problem(rows.at[row, "film_id"], row, column, f"{column} {_cell_text(values[row])} is negative",
                       f"A {what} cannot be below zero: correct the value or leave the row out.")
    return parsed


def _checked_dates(values: pd.Series, rows: pd.DataFrame, column: str, report: _Report, required: bool) -> pd.Series:
    parsed, bad = _dates(values[rows.index])
    if required:
        bad = bad | parsed.isna()
    for row in bad.index[bad.to_numpy()]:
        shown = f"{values[row]!r} is not a date" if _cell_text(values[row]) else "is empty"
        report.problem(rows.at[row, "film_id"], row, column, f"{column} {shown}",
                       "Write dates as YYYY-MM-DD, e.g. 2010-07-16.")
    return parsed


def _checked_weeks(values: pd.Series, rows: pd.DataFrame, report: _Report) -> pd.Series:
    parsed, _ = _numbers(values[rows.index])
    bad = parsed.isna() | (parsed < 1) | (parsed % 1 != 0)
    for row in bad.index[bad.to_numpy()]:
        shown = f"{values[row]!r} is not a week number" if _cell_text(values[row]) else "is empty"
        report.problem(rows.at[row, "film_id"], row, "week", f"week {shown}",
                       "Weeks of run are whole numbers: 1 for the opening week, 2 for the next, and so on.")
    return parsed.where(~bad, 0).astype(int)


def _add_day_of_run(rows: pd.DataFrame, table: pd.DataFrame, kind: str, report: _Report) -> None:
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
    values = values.where(_texts(values).ne("-"))
    parsed, bad = _numbers(values)
    bad = bad | (parsed.notna() & ((parsed < 1) | (parsed % 1 != 0)))
    _skip_warning(bad, f"{column} is not a day number (1 = opening day); left empty", report)
    rows["day_of_run"] = parsed.where(~bad)


def _add_film_values(rows: pd.DataFrame, table: pd.DataFrame, report: _Report) -> None:
    """Per-film text and metadata columns; unreadable budget or runtime is dropped with a warning."""
    for column in TEXT_FILM_COLUMNS:
        if column in table:
            rows[column] = (_genres if column == "genres" else _texts)(table.loc[rows.index, column])
    for column in NUMBER_FILM_COLUMNS:
        if column not in table:
            continue
        parsed, bad = _numbers(table.loc[rows.index, column])
        bad = bad | (parsed < 0)
        _skip_warning(bad, f"{column} is not a non-negative number; left empty (it is optional)", report)
        rows[column] = parsed.where(~bad)


def _check_overlong_rows(rows: pd.DataFrame, overlong: dict[int, int], width: int, report: _Report) -> None:
    for row, fields in overlong.items():
        if row in rows.index:
            report.problem(rows.at[row, "film_id"], row, None,
                           f"row has {fields} values but the header has {width} columns",
                           "Put a value that contains a comma in double quotes, or remove the extra values.")


def _check_duplicates(rows: pd.DataFrame, kind: str, report: _Report) -> None:
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


def _check_release_dates(rows: pd.DataFrame, kind: str, report: _Report) -> None:
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


def _sorted_runs(rows: pd.DataFrame, kind: str, report: _Report) -> pd.DataFrame:
    """A file need not be sorted: each film's rows are put in date (week) order, with a warning."""
    time = "date" if kind == "daily" else "week"
    in_file_order = rows.sort_index()
    previous = in_file_order.groupby("film_id")[time].shift()
    unsorted = in_file_order.loc[in_file_order[time] < previous, "film_id"].unique().tolist()
    if unsorted:
        more = f" and {len(unsorted) - 10} more" if len(unsorted) > 10 else ""
        report.warn(f"rows of film{'s' * (len(unsorted) > 1)} {_quoted(unsorted[:10])}{more} were not in {time} "
                    f"order and were sorted by {time}")
    return rows.sort_values(["film_id", time], kind="stable")


# ------------------------------------------------------------------------------------ building


def _build_checked(rows: pd.DataFrame, kind: str, report: _Report) -> BoxOfficeData:
    """The tables for the films without problems, then without the films too short to use."""
    rejected = {problem.film_id for problem in report.problems}
    rows = rows[~rows["film_id"].isin(rejected)]
    data = _build(rows, kind, report)
    short = _check_run_lengths(data.weekly, rows, kind, report)
    if short:
        data = _build(rows[~rows["film_id"].isin(short)], kind, report)
    return data


def _build(rows: pd.DataFrame, kind: str, report: _Report) -> BoxOfficeData:
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


def _from_daily_rows(rows: pd.DataFrame, film_values: pd.DataFrame, source: str, report: _Report) -> BoxOfficeData:
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
    return from_daily(daily, source, release_dates)


def _warn_previews(daily: pd.DataFrame, release_dates: pd.Series, report: _Report) -> None:
    early = daily[daily["date"] < daily["film_id"].map(release_dates)]
    for film_id, days in early.groupby("film_id")["date"]:
        report.warn(f"film {film_id!r}: {len(days)} day(s) before its release_date "
                    f"{release_dates[film_id]:%Y-%m-%d} (previews) belong to no week of run and are left out "
                    "of the weekly table")


def _from_weekly_rows(rows: pd.DataFrame, film_values: pd.DataFrame, source: str) -> BoxOfficeData:
    """The weekly table from given weeks: each is a full week; a missing week number is a gap."""
    weekly = pd.DataFrame({
        "film_id": rows["film_id"], "week": rows["week"], "gross": rows["gross"], "days_present": 7,
        "theaters_max": rows["theaters"], "theaters_mean": rows["theaters"],
    }).reset_index(drop=True)
    weekly = _fill_missing_weeks(weekly)  # same gap rows as the daily path: 0 days, gross NaN
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


def _check_run_lengths(weekly: pd.DataFrame, rows: pd.DataFrame, kind: str, report: _Report) -> set[str]:
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


def _warn_cut_short(runs: pd.DataFrame, report: _Report) -> None:
    """One warning for all films whose usable run stops at a partial or missing week."""
    if runs.empty:
        return
    shown = [f"{film_id!r} (usable weeks 1-{run['usable']:.0f}; week {run['gap_week']:.0f} has "
             f"{run['gap_days']:.0f} of 7 days)" for film_id, run in runs.head(10).iterrows()]
    more = f" and {len(runs) - 10} more" if len(runs) > 10 else ""
    report.warn(f"{len(runs)} film{'s' * (len(runs) > 1)}: the usable run stops at a partial or missing week "
                f"(later weeks are kept, flagged not usable): {', '.join(shown)}{more}")


def _report_short_run(film_id: str, run: pd.Series, kind: str, report: _Report) -> None:
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
