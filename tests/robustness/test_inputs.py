"""Bad inputs, one table row each: the exit code (or the loader's verdict), a message that names the
file, film, row or column and the fix, a bound on the memory of the process that read it, and
nothing written earlier lost or overwritten.

The rows run in one worker process (worker.py), which reports each row's own peak RSS; the inputs
whose exit code or memory must be that of the installed command run it in a fresh process.
Files are built by the tests from real rows (Arrival's first weeks, the shared media clips).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import responses

from cineseq_assets.boxoffice import calendar
from cineseq_assets.boxoffice.connectors import TMDBClient, YouTubeClient
from cineseq_assets.boxoffice.userfile import load_user_file, reading
from cineseq_assets.errors import InputFileError

# Peak RSS of the process that read one bad input. Before the bounds, a week of 10**7 took 3.1 GB and
# a 1 GB gzip bomb 5.2 GB; after, every row stays near the worker's own size (about 0.5 GB with torch).
MEMORY_BOUND_MB = 1500

HEADER = "film_id,week,title,release_date,gross,theaters\n"
ARRIVAL = "".join(f"arrival-2016,{week},Arrival,2016-11-11,{gross},{theaters}\n" for week, gross, theaters in
                  [(1, 31_570_799, 2317), (2, 19_536_764, 2442), (3, 14_670_951, 2442)])
DAILY_HEADER = "film_id,date,gross,theaters\n"


def weekly(*rows: str) -> str:
    return HEADER + ARRIVAL + "".join(rows)


def daily_days(film: str, start: str, days: int) -> str:
    dates = pd.date_range(start, periods=days)
    return "".join(f"{film},{day:%Y-%m-%d},1000000,2000\n" for day in dates)


# ------------------------------------------------------------------------------- file builders

def text_file(name: str, text: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path
    return make


def bytes_file(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path
    return make


def gzip_bomb(folder: Path) -> Path:
    """1 MB of gzip that inflates to 1 GB: a valid header, Arrival's rows, then spaces."""
    path = folder / "bomb.csv.gz"
    with gzip.open(path, "wb", compresslevel=9) as stream:
        stream.write(weekly().encode())
        block = b" " * 2**20
        for _ in range(1024):
            stream.write(block)
    return path


def truncated_gzip(folder: Path) -> Path:
    data = gzip.compress(weekly().encode() * 50)
    path = folder / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


def sparse_csv(folder: Path) -> Path:
    """A plain CSV larger than the bound, as a sparse file: its size costs no disk and must not be read."""
    path = folder / "huge.csv"
    with path.open("wb") as stream:
        stream.write(weekly().encode())
        stream.truncate(reading.MAX_TEXT_BYTES + 1)
    return path


def huge_png(folder: Path, side: int = 20_000) -> Path:
    """A valid 20000x20000 PNG (1-bit grey, 60 KB): 1.2 GB once OpenCV decodes it to colour."""
    path = folder / "huge.png"
    row = b"\x00" + b"\x00" * (side // 8)
    compressor, body = zlib.compressobj(9), []
    for _ in range(side):
        body.append(compressor.compress(row))
    body.append(compressor.flush())

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(body)) + chunk(b"IEND", b""))
    return path


def cut_media(name: str, keep: float) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        data = (MEDIA / name).read_bytes()
        path = folder / f"cut_{name}"
        path.write_bytes(data[: int(len(data) * keep)])
        return path
    return make


def oversized_video(folder: Path) -> Path:
    """One frame of 4200x2400 (above the 4096x2304 the trailer stage decodes), MPEG-4 in MP4."""
    import av

    path = folder / "huge.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=1)
        stream.width, stream.height, stream.pix_fmt = 4200, 2400, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((2400, 4200, 3), np.uint8), format="bgr24")
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# The shared folder's real clips and photos, found as the suite's conftest finds them.
MEDIA = Path(os.environ.get("CINESEQ_SHARED", Path(__file__).resolve().parents[3] / "shared")) / "media"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


# ---------------------------------------------------------------------------- the loader's rows

@dataclass(frozen=True)
class LoaderRow:
    """One bad file: refused as a whole (``refused``), or loaded with ``film`` rejected, or loaded with a warning."""

    id: str
    make: Callable[[Path], Path]
    refused: tuple[str, ...] = ()  # parts of the whole-file error (after the file's path)
    film: str | None = None  # the film left out ...
    rejected: tuple[str, ...] = ()  # ... and parts of its message
    warned: tuple[str, ...] = ()  # parts of a repair warning (the file still loads)
    loads: tuple[str, ...] = ("arrival-2016",)  # the films that must still load


LOADER_ROWS = [
    # Already handled: the whole file refused, naming it and the fix.
    LoaderRow("empty", text_file("empty.csv", ""), refused=("is empty (0 bytes)", "Write a header row")),
    LoaderRow("header-only", text_file("header.csv", HEADER), refused=("has a header", "but no data rows", "Write a header row")),
    LoaderRow("wrong-columns", text_file("cols.csv", "film,when,money\na,1,2\n"),
              refused=("'film_id'", "in the header row")),
    LoaderRow("binary", bytes_file("binary.csv", bytes(range(256)) * 8), refused=("not UTF-8", "Re-save the file as UTF-8")),
    LoaderRow("utf16", bytes_file("utf16.csv", weekly().encode("utf-16")), refused=("UTF-16", "Re-save the file as UTF-8")),
    LoaderRow("truncated-gzip", truncated_gzip, refused=("could not be decompressed", "complete gzip file")),
    LoaderRow("not-parquet", text_file("renamed.parquet", weekly()),
              refused=("could not be read as Parquet", "not a renamed CSV")),
    LoaderRow("spreadsheet", bytes_file("films.xlsx", b"PK\x03\x04"), refused=("unsupported file type", "CSV UTF-8")),
    # Already handled: one film left out, named with its row and column, the others loaded.
    LoaderRow("negative-gross", text_file("neg.csv", weekly("neg,1,Neg,2016-11-11,-5,10\n")),
              film="neg", rejected=("row 5", "column 'gross'", "is negative", "cannot be below zero")),
    LoaderRow("text-gross", text_file("text.csv", weekly("txt,1,Txt,2016-11-11,lots,10\n")),
              film="txt", rejected=("row 5", "column 'gross'", "'lots' is not a number", "plain number")),
    LoaderRow("duplicate-week", text_file("dup.csv", weekly("dup,1,Dup,2016-11-11,5,10\n", "dup,1,Dup,2016-11-11,6,10\n")),
              film="dup", rejected=("row 6", "column 'week'", "appears twice", "remove the duplicate")),
    LoaderRow("partial-week", text_file("partial.csv", DAILY_HEADER + daily_days("part", "2016-11-11", 4)
                                        + daily_days("arrival-2016", "2016-11-11", 14)),
              film="part", rejected=("row 2", "only 0 full weeks", "every day present")),
    # Bounded now (issue 14, items 1, 4, 9, 16, 17).
    LoaderRow("week-1e9", text_file("week.csv", weekly("huge,1000000000,Huge,2016-11-11,1000,10\n")),
              film="huge", rejected=("row 5", "column 'week'", "beyond the longest run accepted (week 1560", "check the number")),
    LoaderRow("daily-span-200-years", text_file("span.csv", DAILY_HEADER + daily_days("arrival-2016", "2016-11-11", 14)
                                                + "old,1901-01-04,5,1\nold,2099-01-01,5,1\n"),
              film="old", rejected=("row 17", "column 'date'", "days after the film's opening", "at most 10,920 days")),
    LoaderRow("release-2999", text_file("y2999.csv", weekly("future,1,Future,2999-01-01,1000000,100\n")),
              film="future", rejected=("row 5", "column 'release_date'", "not in the years 1900-2100", "Check the year")),
    LoaderRow("release-1800", text_file("y1800.csv", weekly("past,1,Past,1800-01-01,1000000,100\n")),
              film="past", rejected=("row 5", "column 'release_date'", "not in the years 1900-2100")),
    LoaderRow("release-1600-beyond-pandas", text_file("y1600.csv", weekly("older,1,Older,1600-01-01,1000000,100\n")),
              film="older", rejected=("row 5", "1600-01-01 is not in the years 1900-2100")),
    LoaderRow("gross-1e300", text_file("rich.csv", weekly("rich,1,Rich,2016-11-11,1e300,100\n")),
              film="rich", rejected=("row 5", "column 'gross'", "more than any film has had ($7,000,000,000 a week)",
                                     "not cumulative or in cents")),
    LoaderRow("theaters-1e9", text_file("wide.csv", weekly("wide,1,Wide,2016-11-11,5,1000000000\n")),
              film="wide", rejected=("row 5", "column 'theaters'", "more than any film has had (10,000 theaters)")),
    LoaderRow("formula-film-id", text_file("formula.csv", weekly('"=HYPERLINK(""http://x"")",1,F,2016-11-11,5,10\n')),
              film='=HYPERLINK("http://x")', rejected=("row 5", "column 'film_id'", "spreadsheet runs as a formula",
                                                      "starts with a letter or digit")),
    LoaderRow("plus-film-id", text_file("plus.csv", weekly("+1,1,P,2016-11-11,5,10\n")),
              film="+1", rejected=("spreadsheet runs as a formula",)),
    LoaderRow("newline-film-id", text_file("newline.csv", weekly('"two\nlines",1,N,2016-11-11,5,10\n')),
              film="two\nlines", rejected=("'two\\nlines'", "line break", "on one line")),
    LoaderRow("100k-film-id", text_file("long.csv", weekly("x" * 100_000 + ",1,L,2016-11-11,5,10\n")),
              film="x" * 100_000, rejected=("characters long (at most 200)", "more characters)")),
    LoaderRow("megabyte-cell", text_file("cell.csv", weekly("x" * 2**20 + ",1,L,2016-11-11,5,10\n")),
              refused=("is not valid CSV at line 5", "field larger than field limit", "Check the quoting")),
    LoaderRow("unknown-genre-and-rating", text_file("genre.csv", "film_id,week,release_date,gross,genres,mpaa\n"
                                                    "arrival-2016,1,2016-11-11,31570799,Drama|Space Opera,PG-14\n"),
              warned=("'Space Opera' not known to the forecaster", "'PG-14' not known to the forecaster")),
    LoaderRow("budget-1e300", text_file("budget.csv", "film_id,week,release_date,gross,budget\n"
                                        "arrival-2016,1,2016-11-11,31570799,1e300\n"),
              warned=("row 2: budget is not a non-negative number (at most $1,000,000,000)",)),
    # Found by the property-based pass (test_userfile_properties.py): a ValueError and a NotImplementedError before.
    LoaderRow("a-chart-column-twice", text_file("twice.csv", "release_id,date,daily_gross,days_in_release,release_id\n"
                                                "a,2016-11-11,5,1,b\n"),
              refused=("has the column 'release_id' 2 times", "Keep one of them")),
    LoaderRow("date-year-minus-1", text_file("minus.csv", DAILY_HEADER + daily_days("arrival-2016", "2016-11-11", 14)
                                             + "neg,-1,5,1\n"),
              film="neg", rejected=("row 16", "column 'date'", "-1 is not in the years 1900-2100")),
    # Bounded now (item 3): the text is capped while it is inflated or before it is read.
    LoaderRow("gzip-bomb", gzip_bomb, refused=("inflates to more than 256.0 MB of text", "Split it into several files")),
    LoaderRow("plain-csv-over-the-bound", sparse_csv, refused=("of text; at most 256.0 MB is read", "Split it")),
]


@pytest.mark.parametrize("row", LOADER_ROWS, ids=[row.id for row in LOADER_ROWS])
def test_a_bad_user_file(row: LoaderRow, worker, tmp_path):
    path = row.make(tmp_path)
    before = digest(path)
    answer = worker.ask({"kind": "userfile", "path": str(path)})
    assert answer["outcome"] != "crashed", answer.get("traceback")
    assert answer["peak_rss_mb"] < MEMORY_BOUND_MB, f"{row.id}: {answer['peak_rss_mb']} MB"
    assert digest(path) == before  # the input is read, never touched
    if row.refused:
        assert answer["outcome"] == "refused" and answer["type"] == "InputFileError", answer
        assert answer["message"].startswith(f"{path}: ") and len(answer["message"]) < 5000
        for part in row.refused:
            assert part in answer["message"]
        return
    assert answer["outcome"] == "loaded", answer
    assert set(row.loads) <= set(answer["films"])
    if row.film is not None:
        message = answer["rejected"][row.film]
        assert message.startswith(f"{path}, film ") and len(message) < 5000
        for part in row.rejected:
            assert part in message, message
    for part in row.warned:
        assert any(part in warning for warning in answer["warnings"]), answer["warnings"]


def test_a_parquet_footer_that_declares_too_many_rows_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "rows.parquet"
    pd.DataFrame({"film_id": ["a"] * 11, "week": range(1, 12), "release_date": "2016-11-11", "gross": 1.0}).to_parquet(path)
    monkeypatch.setattr(reading, "MAX_ROWS", 10)
    with pytest.raises(InputFileError, match=r"holds 11 rows .* at most 10 rows"):
        load_user_file(path)


# ----------------------------------------------------------------------------- images and media

IMAGE_ROWS = [
    ("huge-png", huge_png, ("is too large to open (400 megapixels)", "at most 50 megapixels", "Downscale it")),
    ("large-png", lambda folder: huge_png(folder, 8_000), ("is 8000x8000 pixels (64 megapixels)", "at most 50 megapixels")),
    ("truncated-jpeg", cut_media("single_face.jpg", 0.5), ("JPEG cut short", "export the image again")),
    ("zero-length-jpeg", bytes_file("empty.jpg", b""), ("is not a readable image",)),
    ("text-as-png", text_file("notes.png", "not an image\n"), ("is not a readable image",)),
    ("truncated-png", cut_media("newton.png", 0.5), ("is not a readable image (or it is cut short)",)),
]


@pytest.mark.parametrize("name, make, parts", IMAGE_ROWS, ids=[row[0] for row in IMAGE_ROWS])
def test_a_bad_image(name, make, parts, worker, tmp_path):
    path = make(tmp_path)
    answer = worker.ask({"kind": "image", "path": str(path)})
    assert answer["outcome"] == "refused", answer
    assert answer["message"].startswith(f"{path}: ")
    for part in parts:
        assert part in answer["message"]
    assert answer["peak_rss_mb"] < MEMORY_BOUND_MB


def test_a_complete_image_still_loads(worker, media):
    answer = worker.ask({"kind": "image", "path": str(media / "single_face.jpg")})
    assert answer["outcome"] == "loaded" and answer["shape"][2] == 3


@dataclass(frozen=True)
class CliRow:
    """One command line: its exit code, what stderr (and stdout) must say, what it must leave alone."""

    id: str
    argv: Callable[[Path, dict], list[str]]  # (folder, files made) -> argv
    code: int
    stderr: tuple[str, ...] = ()
    stdout: tuple[str, ...] = ()
    make: dict[str, Callable[[Path], Path]] = field(default_factory=dict)
    keep: tuple[str, ...] = ()  # names of files made beforehand that must be unchanged afterwards
    umask: int | None = None
    patch: dict = field(default_factory=dict)
    check: Callable[[Path, dict], None] | None = None


def previous_forecast(folder: Path) -> Path:
    path = folder / "forecast.csv"
    path.write_text("film_id,origin_week,horizon,week,p10,p50,p90\nearlier,1,1,2,1,2,3\n")
    return path


def forecast_argv(input_name: str, *extra: str) -> Callable[[Path, dict], list[str]]:
    return lambda folder, files: ["forecast", "--input", str(files[input_name]), "--model", str(files["model"]),
                                  "--out", str(folder / "forecast.csv"), *extra]


def one_line_per_message(folder: Path, files: dict) -> None:
    """Every stderr line starts as the report's lines do; no output cell starts like a formula."""
    forecast = pd.read_csv(folder / "forecast.csv", dtype=str)
    assert set(forecast["film_id"]) == {"arrival-2016"}
    assert not forecast.apply(lambda column: column.str.match(r"[=+\-@]")).any().any()


def no_stray_temporary(folder: Path, files: dict) -> None:
    assert not list(folder.glob(".*.tmp")) and not any((folder / "a_folder").iterdir())


def mode_follows_umask(folder: Path, files: dict) -> None:
    assert (folder / "forecast.csv").stat().st_mode & 0o777 == 0o640


def video(name: str) -> Callable[[Path, dict], list[str]]:
    return lambda folder, files: ["trailer", str(files.get(name) or MEDIA / name), "--detector", "yunet",
                                  "--emotion-model", "teacher"]


CLI_ROWS = [
    CliRow("forecast-week-1e9", forecast_argv("input"), 0,
           stderr=("forecast 1 film, rejected 1", "rejected huge: ", "week 1000000000 is beyond the longest run accepted"),
           make={"input": text_file("week.csv", weekly("huge,1000000000,Huge,2016-11-11,1000,10\n"))}),
    CliRow("forecast-release-2999-keeps-the-others", forecast_argv("input"), 0,
           stderr=("forecast 1 film, rejected 1", "rejected future: ", "not in the years 1900-2100"),
           make={"input": text_file("y.csv", weekly("future,1,Future,2999-01-01,1000000,100\n"))}),
    CliRow("forecast-gzip-bomb", forecast_argv("input"), 2, stderr=("bomb.csv.gz: inflates to more than", "Split it"),
           make={"input": gzip_bomb, "previous": previous_forecast}, keep=("previous",)),
    CliRow("forecast-nothing-keeps-the-previous-out", forecast_argv("input"), 1,
           stderr=("forecast 0 films, rejected 1", "forecast.csv left as it was", "rejected neg: "),
           make={"input": text_file("neg.csv", HEADER + "neg,1,Neg,2016-11-11,-5,10\n"), "previous": previous_forecast},
           keep=("previous",)),
    CliRow("forecast-out-is-a-folder", lambda folder, files: [*forecast_argv("input")(folder, files)[:-2], "--out",
                                                               str(folder / "a_folder")], 2,
           stderr=("a_folder is a folder: give --out (and --out-final) a file name",),
           make={"input": text_file("ok.csv", weekly()), "a_folder": lambda folder: (folder / "a_folder").mkdir() or folder},
           check=no_stray_temporary),
    CliRow("forecast-formula-and-newline-ids", forecast_argv("input"), 0,
           stderr=("rejected =cmd|' /C calc'!A0: ", "rejected two\\nlines: ", "rejected @SUM(1): "),
           make={"input": text_file("ids.csv", weekly("\"=cmd|' /C calc'!A0\",1,X,2016-11-11,5,10\n",
                                                      '"two\nlines",1,Y,2016-11-11,5,10\n', "@SUM(1),1,Z,2016-11-11,5,10\n"))},
           check=one_line_per_message),
    CliRow("forecast-gross-1e300", forecast_argv("input"), 0, stderr=("rejected rich: ", "more than any film has had"),
           make={"input": text_file("rich.csv", weekly("rich,1,Rich,2016-11-11,1e300,100\n"))}),
    CliRow("forecast-output-mode-follows-the-umask", forecast_argv("input"), 0, umask=0o027,
           make={"input": text_file("ok.csv", weekly())}, check=mode_follows_umask),
    CliRow("forecast-large-input-says-what-it-does", forecast_argv("input"), 0,
           stderr=("reading ", "loaded 1 films (0 left out); building their panels", "forecasting 1 films"),
           make={"input": text_file("ok.csv", weekly())}, patch={"cineseq_assets.cli.PROGRESS_BYTES": 1}),
    CliRow("trailer-rate-0", lambda folder, files: ["trailer", str(MEDIA / "single_face.mp4"), "--rate", "0"], 2,
           stderr=("--rate", "'0' is not a number of frames per second above 0")),
    CliRow("trailer-rate-negative", lambda folder, files: ["trailer", str(MEDIA / "single_face.mp4"), "--rate", "-1"], 2,
           stderr=("'-1' is not a number of frames per second above 0",)),
    CliRow("trailer-rate-nan", lambda folder, files: ["trailer", str(MEDIA / "single_face.mp4"), "--rate", "nan"], 2,
           stderr=("'nan' is not a number of frames per second above 0",)),
    CliRow("trailer-out-is-a-folder", lambda folder, files: ["trailer", str(MEDIA / "single_face.mp4"), "--out", str(folder)],
           2, stderr=("is a folder: give --out a file name",)),
    CliRow("trailer-zero-length", video("empty"), 2, stderr=("empty.mp4", "the file is empty (0 bytes)"),
           make={"empty": bytes_file("empty.mp4", b"")}),
    CliRow("trailer-corrupt", video("junk"), 2, stderr=("junk.mp4", "not a readable media file"),
           make={"junk": bytes_file("junk.mp4", bytes(range(256)) * 64)}),
    CliRow("trailer-huge-resolution", video("huge"), 2, stderr=("huge.mp4", "4200x2400", "Downscale it"),
           make={"huge": oversized_video}),
    CliRow("trailer-truncated-mp4-says-so", video("cut"), 0,
           stderr=("warning: ", "cut_WolfgangLanger_Pexels.mp4", "decoded 9.", "of the 19.7 s it declares",
                   "fetch or export it again"),
           stdout=("truncated: decoded 9.",), make={"cut": cut_media("WolfgangLanger_Pexels.mp4", 0.5)}),
]


@pytest.mark.parametrize("row", CLI_ROWS, ids=[row.id for row in CLI_ROWS])
def test_a_bad_command_line(row: CliRow, worker, weights_path, tmp_path):
    files = {"model": weights_path} | {name: make(tmp_path) for name, make in row.make.items()}
    kept = {name: digest(files[name]) for name in row.keep}
    request = {"kind": "cli", "argv": row.argv(tmp_path, files), "patch": row.patch}
    if row.umask is not None:
        request["umask"] = row.umask
    answer = worker.ask(request, timeout=600)
    assert answer["outcome"] == "exit", answer.get("traceback")
    assert answer["code"] == row.code, answer["stderr"]
    assert "Traceback" not in answer["stderr"]
    for part in row.stderr:
        assert part in answer["stderr"], answer["stderr"]
    for part in row.stdout:
        assert part in " ".join(answer["stdout"].split()), answer["stdout"]
    assert all(line.startswith(("warning: ", "error: ", "forecast ", "rejected ", "reading ", "  ", "usage: ", "cineseq "))
               for line in answer["stderr"].splitlines() if "WARN" not in line and "Warning" not in line
               and "self.emotions" not in line), answer["stderr"]
    assert {name: digest(files[name]) for name in row.keep} == kept
    assert answer["peak_rss_mb"] < MEMORY_BOUND_MB
    if row.check:
        row.check(tmp_path, files)


# ------------------------------------------------------------ the installed command, a fresh process

@pytest.mark.parametrize("name, make, code, said", [
    ("week-1e9", text_file("week.csv", weekly("huge,1000000000,Huge,2016-11-11,1000,10\n")), 0,
     "week 1000000000 is beyond the longest run accepted (week 1560, 30 years)"),
    ("gzip-bomb", gzip_bomb, 2, "inflates to more than 256.0 MB of text"),
])
def test_the_installed_command_stays_bounded(name, make, code, said, run_command, cineseq_command, weights_path, tmp_path):
    """Issue 14: a week of 10**7 took 3.1 GB and 34 s, a 1 GB gzip bomb 5.2 GB and 152 s."""
    done = run_command([cineseq_command, "forecast", "--input", str(make(tmp_path)), "--model", str(weights_path),
                        "--out", str(tmp_path / "out.csv")], tmp_path)
    assert done.code == code, done.stderr
    assert said in done.stderr
    assert done.peak_rss_mb < MEMORY_BOUND_MB and done.seconds < 60, (done.peak_rss_mb, done.seconds)


# ------------------------------------------------------------------------- the demo's New film path

NEW_FILM_ROWS = [
    ("week-1e9", [{"week": 1, "gross": 31_570_799}, {"week": 10**9, "gross": 1000}], {},
     "refused", "beyond the longest run accepted (week 1560"),
    ("gross-1e300", [{"week": 1, "gross": 1e300}], {}, "refused", "more than any film has had"),
    ("budget-1e300", [{"week": 1, "gross": 31_570_799}], {"budget": 1e300}, "loaded", "budget is not a non-negative number"),
    ("unknown-genre-and-rating", [{"week": 1, "gross": 31_570_799}], {"genres": ["Space Opera"], "mpaa": "PG-14"},
     "loaded", "'Space Opera' not known to the forecaster"),
    ("release-2999", [{"week": 1, "gross": 31_570_799}], {"release_date": "2999-01-01"}, "refused",
     "not in the years 1900-2100"),
]


@pytest.mark.parametrize("name, weeks, facts, outcome, said", NEW_FILM_ROWS, ids=[row[0] for row in NEW_FILM_ROWS])
def test_a_bad_new_film(name, weeks, facts, outcome, said, worker, tmp_path):
    request = {"kind": "new_film", "folder": str(tmp_path), "weeks": weeks, "release_date": "2016-11-11", **facts}
    answer = worker.ask(request)
    assert answer["outcome"] == outcome, answer
    shown = answer["message"] if outcome == "refused" else " ".join(answer["warnings"])
    assert said in shown
    assert answer["peak_rss_mb"] < MEMORY_BOUND_MB


def test_the_page_shows_no_server_path_no_markup_and_no_megabyte():
    import tempfile

    from demo.app import _for_page

    temp = Path(tempfile.gettempdir())
    text = f"{temp}/cineseq-newfilm-x1y2/new_film.csv, film 'a<img src=x onerror=alert(1)>': {'z' * 2**20}"
    shown = _for_page(text)
    assert str(temp) not in shown and shown.startswith("new_film.csv, film ")
    assert "<img" not in shown and "&lt;img" in shown
    assert len(shown) < 3000 and "more characters" in shown


# ------------------------------------------------------------------------------- the calendar

@pytest.mark.parametrize("thanksgiving", ["1950-11-23", "2016-11-24", "2090-11-23"])
def test_the_holiday_calendar_covers_any_year(thanksgiving):
    """Before: years outside 1995-2035 raised IndexError (or wrapped around silently)."""
    week_start = pd.Series(pd.to_datetime([thanksgiving]) - pd.Timedelta(days=3))
    flags = calendar.holiday_flags(week_start)
    assert flags.loc[0, "holiday_thanksgiving_w0"] == 1 and flags.loc[0, "holiday_thanksgiving_w1"] == 0
    assert calendar.weeks_since_holiday(week_start + pd.Timedelta(days=7)).iloc[0] == 1


# --------------------------------------------------------------------------------- API keys

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJzZWNyZXQifQ.c2lnbmF0dXJlLXNlY3JldA"
V3_KEY = "0123456789abcdef0123456789abcdef"


@responses.activate
def test_a_tmdb_read_access_token_travels_in_a_header_not_the_url():
    responses.get("https://api.themoviedb.org/3/search/movie", json={"results": []})
    TMDBClient(TOKEN).movie_metadata("Arrival", 2016)
    request = responses.calls[0].request
    assert TOKEN not in request.url and request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("client, url", [
    (lambda: TMDBClient(V3_KEY), "https://api.themoviedb.org/3/search/movie"),
    (lambda: YouTubeClient(V3_KEY), "https://www.googleapis.com/youtube/v3/search"),
])
def test_a_key_in_the_query_string_is_kept_out_of_the_request_log(client, url, caplog):
    """urllib3 logs each request line, query string included, at DEBUG: the key is redacted there."""
    import http.server
    import threading

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = b'{"results": [], "items": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = client()
        api._api.base_url = f"http://127.0.0.1:{server.server_port}/x"
        with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
            (api.movie_metadata if isinstance(api, TMDBClient) else api.trailer_stats)("Arrival", 2016)
    finally:
        server.shutdown()
    logged = [record.getMessage() for record in caplog.records if record.name == "urllib3.connectionpool"]
    assert any("/x/" in line and "***" in line for line in logged), logged
    assert not any(V3_KEY in line for line in logged)
    assert requests  # the real requests stack, against a real server on 127.0.0.1
