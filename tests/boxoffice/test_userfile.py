"""A user's own box office file: the examples load, and every bad input is named precisely.

The examples are real Box Office Mojo numbers (see examples/make_examples.py). Bad files are the
examples with one cell or line changed, so a test names the exact row (header = row 1) it broke.
Daily example rows: 2-50 Inception, 51-99 The Social Network, 100-148 Arrival (49 days each).
Weekly example rows: 2-8 Inception, 9-15 The Social Network, 16-22 Arrival (7 weeks each).
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.boxoffice.features import FilmContext, daily_shape_features
from cineseq_assets.boxoffice.panel import film_panel, film_row, truncation_mismatches
from cineseq_assets.boxoffice.schema import DAY_GROSS_COLUMNS
from cineseq_assets.boxoffice.userfile import load_user_file, validate_film
from cineseq_assets.errors import FilmDataError, InputFileError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DAILY = EXAMPLES / "my_films_daily.csv"
WEEKLY = EXAMPLES / "my_films_weekly.csv"
FILMS = {"inception-2010", "the-social-network-2010", "arrival-2016"}


# ------------------------------------------------------------------------------------- helpers


def example_rows(example: Path) -> list[list[str]]:
    """The example as a list of rows; index 0 is the header (row 1)."""
    return list(csv.reader(io.StringIO(example.read_text(encoding="utf-8"))))


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def with_cell(example: Path, tmp_path: Path, row: int, column: str, value: str) -> Path:
    """A copy of ``example`` with one cell changed; ``row`` numbered as in the file (header = 1)."""
    rows = example_rows(example)
    rows[row - 1][rows[0].index(column)] = value
    return write_rows(tmp_path / "films.csv", rows)


def rejected_message(path: Path, film_id: str) -> str:
    """Load a file with one bad film: the others load, and the bad one's message is returned."""
    data = load_user_file(path)
    assert set(data.rejected) == {film_id}
    assert set(data.films["film_id"]) == FILMS - {film_id}
    assert film_id not in set(data.weekly["film_id"])
    return data.rejected[film_id]


def assert_names(message: str, path: Path, film_id: str, row: int, column: str) -> None:
    for part in (str(path), f"film {film_id!r}", f"row {row},", f"column {column!r}"):
        assert part in message, f"{part!r} not in {message!r}"


# --------------------------------------------------------------------------------- good files


def test_daily_example_loads_three_full_runs():
    warnings: list[str] = []
    data = load_user_file(DAILY, warnings)
    assert data.source == f"user_file:{DAILY}"
    assert set(data.films["film_id"]) == FILMS and data.rejected == {} and warnings == []
    assert (data.films["usable_weeks"] == 7).all()
    inception = data.film("inception-2010")
    assert inception["title"] == "Inception" and inception["release_date"] == pd.Timestamp("2010-07-16")
    assert inception["opening_theaters"] == 3792 and inception["distributor"] == "Warner Bros."
    assert data.market.empty  # three films are not the whole chart: the market comes from elsewhere (weekly.best_market)


def test_weekly_example_loads_with_metadata():
    warnings: list[str] = []
    data = load_user_file(WEEKLY, warnings)
    assert set(data.films["film_id"]) == FILMS and data.rejected == {} and warnings == []
    weeks = data.film_weeks("arrival-2016")
    assert weeks["week"].tolist() == list(range(1, 8))
    assert weeks["days_present"].eq(7).all() and weeks["full_week"].all() and weeks["usable"].all()
    assert weeks["week_start"].iloc[1] == pd.Timestamp("2016-11-18")
    assert weeks["cum_gross"].iloc[-1] == weeks["gross"].sum()
    arrival = data.film("arrival-2016")
    assert arrival["genres"] == "Drama|Science Fiction|Mystery" and arrival["budget"] == 47_000_000
    assert arrival["mpaa"] == "PG-13" and arrival["runtime"] == 116 and arrival["usable_weeks"] == 7
    assert data.market.empty and list(data.market.columns) == ["date", "chart_gross", "wide_openings"]


def test_examples_are_the_real_chart_numbers(shared_dir, tmp_path, load_script):
    """examples/make_examples.py rebuilds both files byte for byte from the Box Office Mojo chart."""
    make_examples = load_script(EXAMPLES / "make_examples.py")
    make_examples.main(shared_dir / make_examples.DEFAULT_CHART.relative_to(make_examples.SHARED), tmp_path)
    assert (tmp_path / DAILY.name).read_bytes() == DAILY.read_bytes()
    assert (tmp_path / WEEKLY.name).read_bytes() == WEEKLY.read_bytes()


def test_weekly_of_daily_example_equals_weekly_example():
    from_days = load_user_file(DAILY).weekly.set_index(["film_id", "week"])
    from_weeks = load_user_file(WEEKLY).weekly.set_index(["film_id", "week"])
    pd.testing.assert_series_equal(from_days["gross"].sort_index(), from_weeks["gross"].sort_index())
    pd.testing.assert_series_equal(from_days["week_start"].sort_index(), from_weeks["week_start"].sort_index())
    pd.testing.assert_series_equal(from_days["theaters_max"].sort_index(), from_weeks["theaters_max"].sort_index())


SHAPE_COLUMNS = ["weekend_share", "sunday_over_friday", "late_week_retention", "last_day_level"]


def test_a_weekly_file_has_no_days_and_its_panel_says_so():
    data = load_user_file(WEEKLY)
    assert data.weekly[DAY_GROSS_COLUMNS].isna().all().all()
    for film_id in FILMS:
        panel = film_panel(data, film_id, market=None)
        assert len(panel) == 7 and panel["has_daily"].eq(0.0).all()
        assert panel[[*DAY_GROSS_COLUMNS, *SHAPE_COLUMNS]].isna().all().all()
        context = FilmContext(film=film_row(data, film_id))
        assert truncation_mismatches(data.film_weeks(film_id), context, daily_shape_features) == []


def test_a_daily_file_gives_the_days_of_each_week():
    data = load_user_file(DAILY)
    weekly = data.weekly
    assert np.array_equal(weekly[DAY_GROSS_COLUMNS].sum(axis=1), weekly["gross"])
    inception = data.film_weeks("inception-2010")
    assert inception.loc[0, "day_gross_1"] == 21_782_199  # row 2 of the file: Friday 2010-07-16
    panel = film_panel(data, "inception-2010", market=None)
    assert panel["has_daily"].eq(1.0).all() and panel[[*DAY_GROSS_COLUMNS, "weekend_share"]].notna().all().all()


@pytest.mark.parametrize("example", [DAILY, WEEKLY], ids=["daily", "weekly"])
def test_parquet_loads_like_csv(example, tmp_path):
    frame = pd.read_csv(example)
    if "date" in frame:
        frame["date"] = pd.to_datetime(frame["date"]).dt.date  # a real date column, as Parquet stores it
    parquet = tmp_path / "films.parquet"
    frame.to_parquet(parquet)
    from_csv, from_parquet = load_user_file(example), load_user_file(parquet)
    assert from_parquet.source == f"user_file:{parquet}"
    pd.testing.assert_frame_equal(from_csv.weekly, from_parquet.weekly)
    pd.testing.assert_frame_equal(from_csv.films, from_parquet.films)


def test_column_names_match_case_and_spaces(tmp_path):
    rows = example_rows(WEEKLY)
    rows[0] = [" Film ID ", "WEEK", "Title", "Release Date", "Gross", "theaters", "Distributor", "Genres",
               "Budget", "MPAA", "Runtime"]
    data = load_user_file(write_rows(tmp_path / "films.csv", rows))
    assert set(data.films["film_id"]) == FILMS and data.rejected == {}


def test_daily_release_date_sets_opening_and_warns_about_previews(tmp_path):
    rows = example_rows(DAILY)
    rows[0].append("release_date")
    for row in rows[1:]:
        row.append("2010-07-17" if row[0] == "inception-2010" else "")
    warnings: list[str] = []
    data = load_user_file(write_rows(tmp_path / "films.csv", rows), warnings)
    assert data.film("inception-2010")["release_date"] == pd.Timestamp("2010-07-17")
    assert data.film("arrival-2016")["release_date"] == pd.Timestamp("2016-11-11")  # first date
    assert any("'inception-2010': 1 day(s) before its release_date 2010-07-17" in w for w in warnings)


# ---------------------------------------------------------------------- repairs, with a warning


def test_unsorted_rows_are_sorted_with_a_warning(tmp_path, caplog):
    rows = example_rows(DAILY)
    rows[2], rows[30] = rows[30], rows[2]
    warnings: list[str] = []
    with caplog.at_level(logging.WARNING, logger="cineseq.userfile"):
        data = load_user_file(write_rows(tmp_path / "films.csv", rows), warnings)
    assert warnings == [f"{tmp_path / 'films.csv'}: rows of film 'inception-2010' were not in date order "
                        "and were sorted by date"]
    assert warnings[0] in caplog.messages
    pd.testing.assert_frame_equal(data.weekly, load_user_file(DAILY).weekly)


def test_empty_gross_is_a_missing_day_with_a_warning(tmp_path):
    warnings: list[str] = []
    data = load_user_file(with_cell(DAILY, tmp_path, 20, "gross", ""), warnings)
    week = data.film_weeks("inception-2010").iloc[2]  # row 20 = day 19 = week 3
    assert week["days_present"] == 6 and not week["usable"]
    assert np.isnan(week["day_gross_5"]) and week[DAY_GROSS_COLUMNS].notna().sum() == 6  # day 19 = day 5 of week 3
    assert data.film("inception-2010")["usable_weeks"] == 2 and data.rejected == {}
    assert "row 20: empty gross; skipped" in warnings[0]
    assert "1 film: the usable run stops at a partial or missing week" in warnings[1]
    assert "'inception-2010' (usable weeks 1-2; week 3 has 6 of 7 days)" in warnings[1]


def test_unknown_column_is_ignored_with_a_suggestion(tmp_path):
    rows = example_rows(DAILY)
    rows[0][rows[0].index("theaters")] = "theatres"
    warnings: list[str] = []
    data = load_user_file(write_rows(tmp_path / "films.csv", rows), warnings)
    assert data.weekly["theaters_max"].isna().all()
    assert warnings == [f"{tmp_path / 'films.csv'}: ignored column that the format does not use: "
                        "'theatres' (did you mean 'theaters'?)"]


def test_dollar_signs_and_thousands_separators_are_read(tmp_path):
    path = with_cell(DAILY, tmp_path, 2, "gross", "$21,782,199")
    assert load_user_file(path).film_weeks("inception-2010")["gross"].iloc[0] == 100158412


def test_unreadable_budget_is_dropped_with_a_warning(tmp_path):
    warnings: list[str] = []
    data = load_user_file(with_cell(WEEKLY, tmp_path, 9, "budget", "forty million"), warnings)
    assert data.film("the-social-network-2010")["budget"] == 40_000_000  # later rows still give it
    assert "row 9: budget is not a non-negative number" in warnings[0]


# ----------------------------------------------------------------------------- one bad film


@pytest.mark.parametrize("example, row, column, value, film_id, problem", [
    (DAILY, 5, "gross", "abc", "inception-2010", "gross 'abc' is not a number"),
    (DAILY, 60, "gross", "-5000", "the-social-network-2010", "gross -5000 is negative"),
    (DAILY, 101, "date", "16/11/2016", "arrival-2016", "date '16/11/2016' is not a date"),
    (DAILY, 101, "date", "2016-02-30", "arrival-2016", "date '2016-02-30' is not a date"),
    (DAILY, 7, "theaters", "-3792", "inception-2010", "theaters -3792 is negative"),
    (DAILY, 7, "theaters", "many", "inception-2010", "theaters 'many' is not a number"),
    (WEEKLY, 4, "gross", "n/a", "inception-2010", "gross 'n/a' is not a number"),
    (WEEKLY, 10, "week", "two", "the-social-network-2010", "week 'two' is not a week number"),
    (WEEKLY, 10, "week", "1.5", "the-social-network-2010", "week '1.5' is not a week number"),
    (WEEKLY, 17, "theaters", "-1", "arrival-2016", "theaters -1 is negative"),
    (WEEKLY, 17, "release_date", "2016-11-12", "arrival-2016",
     "release_date 2016-11-12 differs from 2016-11-11 on row 16"),
])
def test_bad_cell_rejects_only_its_film(tmp_path, example, row, column, value, film_id, problem):
    path = with_cell(example, tmp_path, row, column, value)
    message = rejected_message(path, film_id)
    assert_names(message, path, film_id, row, column)
    assert problem in message


def test_duplicate_day_rejects_the_film(tmp_path):
    rows = example_rows(DAILY)
    rows.insert(10, rows[3])  # a second copy of row 4 becomes row 11
    path = write_rows(tmp_path / "films.csv", rows)
    message = rejected_message(path, "inception-2010")
    assert_names(message, path, "inception-2010", 11, "date")
    assert "date 2010-07-18 appears twice for this film (rows 4 and 11)" in message


def test_duplicate_week_rejects_the_film(tmp_path):
    path = with_cell(WEEKLY, tmp_path, 20, "week", "3")  # Arrival's week 5 (row 20) relabelled as week 3
    message = rejected_message(path, "arrival-2016")
    assert_names(message, path, "arrival-2016", 20, "week")
    assert "week 3 appears twice for this film (rows 18 and 20)" in message


def test_single_week_is_too_short(tmp_path):
    rows = [row for row in example_rows(WEEKLY) if row[0] != "arrival-2016" or row[1] == "1"]
    path = write_rows(tmp_path / "films.csv", rows)
    message = rejected_message(path, "arrival-2016")
    assert_names(message, path, "arrival-2016", 16, "week")
    assert "only 1 week of run from week 1 (the file ends there); at least 2 are needed" in message


def test_gap_after_week_one_is_too_short(tmp_path):
    rows = [row for row in example_rows(WEEKLY) if not (row[0] == "inception-2010" and row[1] == "2")]
    message = rejected_message(write_rows(tmp_path / "films.csv", rows), "inception-2010")
    assert "only 1 week of run from week 1 (week 2 is missing)" in message


def test_ten_days_is_too_short(tmp_path):
    rows = example_rows(DAILY)[:1] + example_rows(DAILY)[1:11] + example_rows(DAILY)[50:]
    path = write_rows(tmp_path / "films.csv", rows)
    message = rejected_message(path, "inception-2010")
    assert_names(message, path, "inception-2010", 2, "date")
    assert "only 1 full week from opening day 2010-07-16 (week 2 has 3 of 7 days)" in message


def test_weekly_film_without_release_date_is_rejected(tmp_path):
    rows = example_rows(WEEKLY)
    for row in rows[1:]:
        if row[0] == "the-social-network-2010":
            row[3] = ""
    path = write_rows(tmp_path / "films.csv", rows)
    message = rejected_message(path, "the-social-network-2010")
    assert_names(message, path, "the-social-network-2010", 9, "release_date")


def test_row_with_extra_values_rejects_its_film(tmp_path):
    rows = example_rows(DAILY)
    rows[70].append("oops")
    path = write_rows(tmp_path / "films.csv", rows)
    message = rejected_message(path, "the-social-network-2010")
    assert f"{path}, film 'the-social-network-2010', row 71:" in message
    assert "row has 7 values but the header has 6 columns" in message


def test_message_uses_the_users_column_name_and_counts_more_problems(tmp_path):
    rows = example_rows(DAILY)
    rows[0][rows[0].index("gross")] = "Gross"
    rows[4][3], rows[8][3] = "abc", "-1"
    path = write_rows(tmp_path / "films.csv", rows)
    message = rejected_message(path, "inception-2010")
    assert_names(message, path, "inception-2010", 5, "Gross")
    assert "(1 more problem in this film's rows.)" in message


def test_every_film_bad_gives_empty_tables(tmp_path):
    rows = example_rows(WEEKLY)
    for row in rows[1:]:
        row[4] = "-1"
    data = load_user_file(write_rows(tmp_path / "films.csv", rows))
    assert set(data.rejected) == FILMS and data.films.empty and data.weekly.empty


# ------------------------------------------------------------------------------ validate_film


def test_validate_film_passes_a_loaded_film():
    assert validate_film(load_user_file(WEEKLY), "arrival-2016") is None


def test_validate_film_raises_the_rejection(tmp_path):
    data = load_user_file(with_cell(DAILY, tmp_path, 5, "gross", "abc"))
    with pytest.raises(FilmDataError) as error:
        validate_film(data, "inception-2010")
    assert str(error.value) == data.rejected["inception-2010"] and error.value.film_id == "inception-2010"
    validate_film(data, "arrival-2016")  # the other films still pass


def test_validate_film_unknown_id_suggests_close_ones():
    close = r"^user_file:.*, film 'inception-2011': is not in this source\. Did you mean 'inception-2010'\?"
    with pytest.raises(FilmDataError, match=close):
        validate_film(load_user_file(WEEKLY), "inception-2011")
    with pytest.raises(FilmDataError, match="Film ids in it include 'inception-2010'"):
        validate_film(load_user_file(WEEKLY), "zzz")


# ------------------------------------------------------------------------------- whole file


def load_error(path: Path) -> str:
    with pytest.raises(InputFileError) as error:
        load_user_file(path)
    message = str(error.value)
    assert message.startswith(f"{path}: "), message
    return message


def test_missing_file(tmp_path):
    assert "does not exist" in load_error(tmp_path / "nope.csv")
    assert "is a folder" in load_error(tmp_path)


@pytest.mark.parametrize("name, fix", [("films.xlsx", "CSV UTF-8"), ("films.txt", ".csv, .csv.gz, .parquet")])
def test_unsupported_extension(tmp_path, name, fix):
    path = tmp_path / name
    path.write_text("film_id,date,gross\n")
    message = load_error(path)
    assert "unsupported file type" in message and fix in message


@pytest.mark.parametrize("name, content, problem", [
    ("films.csv", b"", "is empty (0 bytes)"),
    ("films.parquet", b"", "is empty (0 bytes)"),
    ("films.csv", b"\n  \n\n", "is empty (no text)"),
    ("films.csv", b"film_id,date,gross\n", "has a header (film_id, date, gross) but no data rows"),
    ("films.csv", b"film_id,date,gross\n,,\n\n", "has a header (film_id, date, gross) but no data rows"),
])
def test_empty_files(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    assert problem in load_error(path)


def test_parquet_with_no_rows(tmp_path):
    path = tmp_path / "films.parquet"
    pd.read_csv(WEEKLY).head(0).to_parquet(path)
    assert "but no rows" in load_error(path)


def test_not_parquet(tmp_path):
    path = tmp_path / "films.parquet"
    path.write_bytes(DAILY.read_bytes())
    assert "could not be read as Parquet" in load_error(path)


def test_latin1_file_names_byte_and_line(tmp_path):
    text = DAILY.read_text(encoding="utf-8").replace("Arrival,", "Arrivée,", 1)
    path = tmp_path / "films.csv"
    path.write_bytes(text.encode("latin-1"))
    offset = text.encode("latin-1").index(b"\xe9")
    message = load_error(path)
    assert f"byte 0xE9 at byte offset {offset} (line 100)" in message
    assert "not UTF-8" in message and "Re-save the file as UTF-8" in message


def test_utf8_with_byte_order_mark_loads(tmp_path):
    path = tmp_path / "films.csv"
    path.write_bytes(b"\xef\xbb\xbf" + WEEKLY.read_bytes())
    assert set(load_user_file(path).films["film_id"]) == FILMS


@pytest.mark.parametrize("example, old, new, missing", [
    (DAILY, "gross", "Gross_USD", "'gross'"),
    (DAILY, "film_id", "films_id", "'film_id'"),
    (DAILY, "gross", "revenue", "'gross'"),
])
def test_misnamed_required_column_is_suggested(tmp_path, example, old, new, missing):
    rows = example_rows(example)
    rows[0][rows[0].index(old)] = new
    message = load_error(write_rows(tmp_path / "films.csv", rows))
    assert f"is missing required column {missing} (did you mean {new!r}?)" in message
    assert f"columns found: {', '.join(rows[0])}" in message


def test_missing_required_column_without_a_lookalike(tmp_path):
    rows = [row[:3] + row[4:] for row in example_rows(DAILY)]  # no gross column at all
    message = load_error(write_rows(tmp_path / "films.csv", rows))
    assert "is missing required column 'gross'; columns found: film_id, date, title, theaters" in message


def test_misnamed_date_column_is_suggested(tmp_path):
    rows = example_rows(DAILY)
    rows[0][1] = "dates"
    message = load_error(write_rows(tmp_path / "films.csv", rows))
    assert ("has neither a 'date' column (daily file) nor a 'week' column (weekly file) "
            "(did you mean 'dates'?)") in message


def test_semicolon_file_is_pointed_out(tmp_path):
    path = tmp_path / "films.csv"
    path.write_text(DAILY.read_text().replace(",", ";"))
    assert "the file seems to use another separator than ','" in load_error(path)


def test_both_date_and_week(tmp_path):
    rows = [row + ["1"] for row in example_rows(DAILY)]
    rows[0][-1] = "week"
    assert "has both a 'date' column and a 'week' column" in load_error(write_rows(tmp_path / "films.csv", rows))


def test_weekly_file_needs_release_date_column(tmp_path):
    rows = [row[:3] + row[4:] for row in example_rows(WEEKLY)]
    message = load_error(write_rows(tmp_path / "films.csv", rows))
    assert "is a weekly file (it has a 'week' column) but has no 'release_date' column" in message


def test_two_columns_with_the_same_meaning(tmp_path):
    rows = [row + [row[3]] for row in example_rows(DAILY)]
    rows[0][-1] = "GROSS"
    message = load_error(write_rows(tmp_path / "films.csv", rows))
    assert "has two columns that both mean 'gross': 'gross' and 'GROSS'" in message


def test_latin1_offset_counts_a_byte_order_mark(tmp_path):
    path = tmp_path / "films.csv"
    text = "film_id,date,gross\nbad-1,2010-07-16,1\ncaf\xe9,2010-07-16,1\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("latin-1"))
    assert "byte 0xE9 at byte offset 44 (line 3)" in load_error(path)


def test_utf16_file(tmp_path):
    path = tmp_path / "films.csv"
    path.write_bytes(DAILY.read_text().encode("utf-16"))
    assert "is UTF-16 text" in load_error(path)


def test_gzipped_csv_loads(tmp_path):
    import gzip

    path = tmp_path / "films.csv.gz"
    path.write_bytes(gzip.compress(WEEKLY.read_bytes()))
    assert set(load_user_file(path).films["film_id"]) == FILMS


def test_rejections_are_logged_once_as_a_summary(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="cineseq.userfile"):
        load_user_file(with_cell(DAILY, tmp_path, 5, "gross", "abc"))
    assert caplog.messages == [f"{tmp_path / 'films.csv'}: 1 film left out (see BoxOfficeData.rejected for why): "
                               "'inception-2010'"]


def test_validate_film_when_no_film_loaded(tmp_path):
    rows = example_rows(WEEKLY)
    for row in rows[1:]:
        row[4] = "-1"
    data = load_user_file(write_rows(tmp_path / "films.csv", rows))
    with pytest.raises(FilmDataError, match="No film in it loaded"):
        validate_film(data, "zzz")
