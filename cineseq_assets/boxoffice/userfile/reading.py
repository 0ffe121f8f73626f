"""Reading a user file into a table of text cells: the file type (CSV, gzip CSV, Parquet), UTF-8,
CSV records numbered as a spreadsheet numbers its rows (header = row 1)."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from ...errors import InputFileError
from .limits import MAX_ROWS, MAX_TEXT_BYTES

FILE_TYPES = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet"}
FORMAT_DOC = "docs/user_data.md"
_CHUNK_BYTES = 2**20


def read_table(path: Path) -> tuple[pd.DataFrame, dict[int, int]]:
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
        _check_parquet_size(path)
        table = pd.read_parquet(path)
    except InputFileError:
        raise
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


def _check_parquet_size(path: Path) -> None:
    """Refuse a file whose footer declares more rows or bytes than the bounds, before reading them: a
    few kilobytes of run-length encoded Parquet can hold billions of rows."""
    metadata = pq.ParquetFile(path).metadata
    inflated = sum(metadata.row_group(group).total_byte_size for group in range(metadata.num_row_groups))
    if metadata.num_rows > MAX_ROWS or inflated > MAX_TEXT_BYTES:
        raise InputFileError(path, f"holds {metadata.num_rows:,} rows ({_mb(inflated)} uncompressed); at most "
                             f"{MAX_ROWS:,} rows and {_mb(MAX_TEXT_BYTES)} are read", _split_fix())


def _read_csv(path: Path) -> tuple[pd.DataFrame, dict[int, int]]:
    buffer = _csv_bytes(path)
    _check_utf8(path, buffer)
    header, records, rows = _csv_records(path, io.TextIOWrapper(buffer, encoding="utf-8-sig", newline=""))
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


# The file's bytes are held once, in a BytesIO that the CSV reader decodes as it goes: no second copy
# as one str (and none in StringIO, which keeps 4 bytes per character).
def _csv_bytes(path: Path) -> io.BytesIO:
    buffer = _inflated(path) if path.name.lower().endswith(".gz") else _plain(path)
    view = buffer.getbuffer()
    blank = all(bytes(view[start:start + _CHUNK_BYTES]).isspace() for start in range(0, len(view), _CHUNK_BYTES))
    del view  # a BytesIO with a view exported cannot be read
    if blank:
        raise InputFileError(path, "is empty (no text)", _fill_in_fix())
    return buffer


def _plain(path: Path) -> io.BytesIO:
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise InputFileError(path, f"is {_mb(size)} of text; at most {_mb(MAX_TEXT_BYTES)} is read", _split_fix())
    return io.BytesIO(path.read_bytes())  # shares the bytes, no copy


def _inflated(path: Path) -> io.BytesIO:
    """The gzip file's text, inflated a chunk at a time and refused as soon as it passes the bound
    (reading all of a gzip bomb first would cost its full size in memory and minutes)."""
    buffer = io.BytesIO()
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK_BYTES):
                if buffer.tell() + len(chunk) > MAX_TEXT_BYTES:
                    raise InputFileError(path, f"inflates to more than {_mb(MAX_TEXT_BYTES)} of text "
                                         f"({_mb(path.stat().st_size)} compressed)", _split_fix())
                buffer.write(chunk)
    except (OSError, EOFError, zlib.error) as error:
        raise InputFileError(path, f"could not be decompressed ({error})",
                             "Check that it is a complete gzip file, or save it as plain .csv.") from error
    buffer.seek(0)
    return buffer


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


def _split_fix() -> str:
    return ("Split it into several files (for example by release year) and run each; "
            "the whole 25-year Box Office Mojo daily chart is 38 MB.")


def _check_utf8(path: Path, buffer: io.BytesIO) -> None:
    """The file is UTF-8 text; a byte that is not is named by offset and line. Checked a chunk at a
    time, keeping nothing of the decoded text."""
    fix = ("Re-save the file as UTF-8: in Excel 'Save As > CSV UTF-8 (comma delimited)', in a text editor "
           "choose encoding UTF-8, in pandas df.to_csv(path, encoding='utf-8').")
    view = buffer.getbuffer()
    try:
        if bytes(view[:2]) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            raise InputFileError(path, "is UTF-16 text (Excel's 'Unicode Text'), not UTF-8", fix)
        decoder = codecs.getincrementaldecoder("utf-8")()
        for start in range(0, len(view), _CHUNK_BYTES):
            # The decoder holds back the bytes of a character split between chunks; an error's
            # position counts them.
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(bytes(view[start:start + _CHUNK_BYTES]), final=start + _CHUNK_BYTES >= len(view))
            except UnicodeDecodeError as error:
                offset = start - pending + error.start
                _raise_not_utf8(path, bytes(view[:offset + 1]), offset, fix, error)
    finally:
        del view


def _raise_not_utf8(path: Path, head: bytes, offset: int, fix: str, error: UnicodeDecodeError) -> None:
    bad = head[offset:offset + 1]
    line = head[:offset].count(b"\n") + 1
    guess = bad.decode("cp1252", errors="replace")
    problem = (f"is not UTF-8 text: byte 0x{bad.hex().upper()} at byte offset {offset} (line {line}) "
               f"cannot be read (in Windows-1252/Latin-1 it would be {guess!r})")
    raise InputFileError(path, problem, fix) from error


def _csv_records(path: Path, text) -> tuple[list[str] | None, list[list[str]], list[int]]:
    """Header, data records and the row (line) each record starts on; blank lines are skipped."""
    reader = csv.reader(text)
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
