"""Any table given to the user-file loader either loads or is refused with a ``CineSeqError``: never
another exception (a pandas or numpy error, an overflow, an index past a table's end).

Hypothesis builds the tables from the format's own column names (and near misses and junk), with
cells drawn from what users write: numbers in every notation and size, dates in and out of range,
blanks, text, control characters. The files are written as CSV (plain and gzip) and as Parquet.
Deterministic: ``derandomize=True`` and a bounded number of examples, so a CI run is repeatable.
"""

from __future__ import annotations

import csv
import gzip
import io
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cineseq_assets.boxoffice.userfile import load_user_file
from cineseq_assets.errors import CineSeqError

COLUMNS = ["film_id", "week", "date", "gross", "theaters", "release_date", "title", "genres", "budget", "mpaa",
           "runtime", "day_of_run", "release_id", "daily_gross", "days_in_release", "Film ID", "theatres", "junk", ""]

numbers = st.one_of(
    st.integers(-10, 60).map(str),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(["1000000000", "10000000", "1561", "1560"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e300", "-1e300", "1e-300", "10000000000", "1000000000", "$1,234,567", "1,5", "0x10", "٣", "NaN"]),
)
dates = st.one_of(
    st.dates().map(lambda day: day.isoformat()),
    st.sampled_from(["2016-11-11", "2016-02-30", "1800-01-01", "2999-12-31", "1600-01-01", "0001-01-01",
                     "9999-12-31", "11/11/2016", "2016-11-11T10:00", "2016-W45"]),
)
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
cells = st.one_of(numbers, dates, texts, st.sampled_from(["", " ", "-", "=1+1", "Drama|Space Opera", "PG-13", "\n"]))


@st.composite
def tables(draw) -> list[list[str]]:
    # Mostly a file of the right shape (so that the rows reach the checks), sometimes any columns at all.
    shaped = draw(st.sampled_from([["film_id", "week", "release_date", "gross"], ["film_id", "date", "gross"],
                                   ["release_id", "date", "daily_gross", "days_in_release"]]))
    extra = draw(st.lists(st.sampled_from(COLUMNS), max_size=4))
    header = draw(st.one_of(st.just(shaped + extra), st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=7)))
    rows = draw(st.lists(st.lists(cells, min_size=len(header), max_size=len(header) + 1), max_size=12))
    film_ids = draw(st.lists(st.sampled_from(["a", "b", "=c", "d\ne"]), min_size=len(rows), max_size=len(rows)))
    for row, film_id in zip(rows, film_ids):  # many rows of few films: duplicates, gaps and runs
        if "film_id" in header:
            row[header.index("film_id")] = film_id
    return [header, *rows]


def write(table: list[list[str]], form: str, folder: Path) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(table)
    if form == "csv":
        path = folder / "table.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
    elif form == "csv.gz":
        path = folder / "table.csv.gz"
        path.write_bytes(gzip.compress(buffer.getvalue().encode()))
    else:
        path = folder / "table.parquet"
        header, rows = table[0], [row[: len(table[0])] for row in table[1:]]
        names = [name or f"column_{position}" for position, name in enumerate(header)]
        frame = pd.DataFrame(rows, columns=names).loc[:, lambda f: ~f.columns.duplicated()]
        frame.to_parquet(path, index=False)
    return path


@settings(max_examples=250, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(table=tables(), form=st.sampled_from(["csv", "csv.gz", "parquet"]), min_weeks=st.sampled_from([1, 2]))
def test_any_table_loads_or_is_refused_with_a_cineseq_error(table, form, min_weeks):
    with tempfile.TemporaryDirectory() as folder:
        path = write(table, form, Path(folder))
        try:
            data = load_user_file(path, [], min_weeks=min_weeks)
        except CineSeqError as error:
            assert str(error).startswith(str(path))  # names the file
            return
        assert set(data.rejected).isdisjoint(data.films["film_id"].astype(str))
        assert data.weekly["week"].max() <= 1560 if len(data.weekly) else True
