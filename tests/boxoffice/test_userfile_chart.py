"""A user's file with the Box Office Mojo daily chart's own columns loads like our daily format.

Rows are real rows of the raw chart (shared/data/raw/bom_daily_tjwaterman99), every column kept
as written: release_id, daily_gross and days_in_release stand for film_id, gross and day_of_run.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import pandas as pd
import pytest

from cineseq_assets.boxoffice.bundled import load_bundled
from cineseq_assets.boxoffice.userfile import load_user_file

CHART = "data/raw/bom_daily_tjwaterman99/bom_daily_2000-01-01_2025-01-03.csv.gz"
INCEPTION, ARRIVAL = "rl2908456449", "rl3195962881"


@pytest.fixture(scope="module")
def chart_rows(shared_dir) -> list[list[str]]:
    """Header and every chart row of Inception and Arrival, in the chart's (date) order."""
    with gzip.open(shared_dir / CHART, "rt", encoding="utf-8", newline="") as raw:
        reader = csv.reader(raw)
        header = next(reader)
        film = header.index("release_id")
        return [header, *(row for row in reader if row[film] in (INCEPTION, ARRIVAL))]


def write(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def days(rows: list[list[str]], film_id: str, first: int, last: int) -> list[list[str]]:
    """Copies of the header and of the film's rows of days ``first``..``last`` of its run."""
    header = rows[0]
    film, day = header.index("release_id"), header.index("days_in_release")
    return [list(header), *(list(row) for row in rows[1:] if row[film] == film_id and row[day].isdigit()
                            and first <= int(row[day]) <= last)]


def test_a_file_with_exactly_the_chart_columns_loads_like_the_bundled_data(chart_rows, tmp_path):
    header = chart_rows[0]
    assert header == ["date", "rank", "rank_yesterday", "release_id", "title", "daily_gross", "pct_change_yd",
                      "pct_change_lw", "theaters", "avg_per_theater", "gross_to_date", "days_in_release",
                      "distributor", "new_this_day", "estimated"]
    warnings: list[str] = []
    data = load_user_file(write(tmp_path / "chart.csv", chart_rows), warnings)
    assert data.rejected == {} and not any("ignored column" in warning for warning in warnings)
    bundled = load_bundled()
    for film_id in (INCEPTION, ARRIVAL):
        ours, theirs = data.film(film_id), bundled.film(film_id)
        assert ours["title"] == theirs["title"] and ours["release_date"] == theirs["release_date"]
        assert ours["distributor"] == theirs["distributor"] and ours["opening_theaters"] == theirs["opening_theaters"]
        pd.testing.assert_frame_equal(data.film_weeks(film_id), bundled.film_weeks(film_id), check_dtype=False)


def test_days_in_release_dates_the_opening(chart_rows, tmp_path):
    """Rows from day 8 on: the opening is still 2010-07-16, so week 1 is empty and the film is left out."""
    rows = days(chart_rows, INCEPTION, 8, 35)
    path = write(tmp_path / "late.csv", rows)
    message = load_user_file(path).rejected[INCEPTION]
    assert f"{path}, film '{INCEPTION}', row 2, column 'date': only 0 full weeks from opening day 2010-07-16 " \
           "(week 1 has 0 of 7 days)" in message
    # Without the day numbers the first date given is the opening day: four full weeks.
    without = [[value for name, value in zip(rows[0], row) if name != "days_in_release"] for row in rows]
    data = load_user_file(write(tmp_path / "no_days.csv", without))
    assert data.film(INCEPTION)["release_date"] == pd.Timestamp("2010-07-23")
    assert data.film(INCEPTION)["usable_weeks"] == 4


def test_unknown_and_unreadable_day_numbers(chart_rows, tmp_path):
    rows = days(chart_rows, ARRIVAL, 1, 21)
    column = rows[0].index("days_in_release")
    rows[1][column] = "-"  # the chart's "not reported": no warning
    rows[5][column] = "fifth"  # row 6 of the file
    warnings: list[str] = []
    data = load_user_file(write(tmp_path / "chart.csv", rows), warnings)
    assert data.rejected == {} and data.film(ARRIVAL)["release_date"] == pd.Timestamp("2016-11-11")
    assert len(warnings) == 1
    assert "row 6: days_in_release is not a day number (1 = opening day, at most 10920); left empty" in warnings[0]


def test_a_bad_gross_names_the_chart_column(chart_rows, tmp_path):
    rows = days(chart_rows, INCEPTION, 1, 21) + days(chart_rows, ARRIVAL, 1, 21)[1:]
    rows[3][rows[0].index("daily_gross")] = "n/a"
    path = write(tmp_path / "chart.csv", rows)
    data = load_user_file(path)
    assert set(data.rejected) == {INCEPTION} and set(data.films["film_id"]) == {ARRIVAL}
    assert data.rejected[INCEPTION].startswith(f"{path}, film '{INCEPTION}', row 4, column 'daily_gross': "
                                               "gross 'n/a' is not a number.")


def test_our_column_names_win_over_the_chart_names(chart_rows, tmp_path):
    rows = days(chart_rows, ARRIVAL, 1, 14)
    rows = [["film_id", *rows[0]]] + [["arrival-2016", *row] for row in rows[1:]]
    warnings: list[str] = []
    data = load_user_file(write(tmp_path / "chart.csv", rows), warnings)
    assert data.films["film_id"].tolist() == ["arrival-2016"]
    assert len(warnings) == 1 and "ignored column that the format does not use: 'release_id'" in warnings[0]


def test_one_full_week_is_enough_when_asked(chart_rows, tmp_path):
    ten_days = write(tmp_path / "ten.csv", days(chart_rows, ARRIVAL, 1, 10))
    assert "at least 2 are needed to forecast or fit a decay" in load_user_file(ten_days).rejected[ARRIVAL]
    data = load_user_file(ten_days, min_weeks=1)
    assert data.rejected == {} and data.film(ARRIVAL)["usable_weeks"] == 1
    four_days = write(tmp_path / "four.csv", days(chart_rows, ARRIVAL, 1, 4))
    message = load_user_file(four_days, min_weeks=1).rejected[ARRIVAL]
    assert "only 0 full weeks from opening day 2016-11-11 (week 1 has 4 of 7 days); at least 1 is needed to " \
           "forecast. Give at least the first 7 days of the run" in message


def test_day_numbers_in_a_weekly_file_are_ignored_with_a_warning(tmp_path):
    weekly = Path(__file__).resolve().parents[2] / "examples" / "my_films_weekly.csv"
    frame = pd.read_csv(weekly).assign(days_in_release=1)
    path = tmp_path / "weekly.csv"
    frame.to_csv(path, index=False)
    warnings: list[str] = []
    data = load_user_file(path, warnings)
    assert data.rejected == {} and len(data.films) == 3
    assert warnings == [f"{path}: column 'days_in_release' (day of run) is ignored in a weekly file: "
                        "weeks count from release_date"]
