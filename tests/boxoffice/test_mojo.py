"""Box Office Mojo daily chart: parsing the real saved pages, refusing non-chart pages, fetching.

The pages are real saved copies of boxofficemojo.com/date/YYYY-MM-DD/ (see SOURCE.md beside them).
Every figure asserted below was read off those pages and agrees with the bundled daily CSV, an
independent transcription of the same pages. No test touches the network: fetches are served by
``responses``.
"""

from __future__ import annotations

import datetime
import gzip
import math
import os
import re
from pathlib import Path

import pandas as pd
import pytest
import requests
import responses
from lxml import html

from cineseq_assets.boxoffice.mojo import (
    CHART_COLUMNS,
    ChartPageError,
    DailyChart,
    chart_url,
    fetch_daily_chart,
    parse_daily_chart,
)
from cineseq_assets.boxoffice.schema import DAILY_COLUMNS
from cineseq_assets.errors import CineSeqError, SourceUnavailableError

# The repository sits at <parent>/main and the shared data at <parent>/shared.
SHARED = Path(os.environ.get("CINESEQ_SHARED", Path(__file__).resolve().parents[3] / "shared"))
PAGES = SHARED / "fixtures" / "boxofficemojo_daily"

CHART_DAYS = ["2010-07-16", "2019-04-26", "2019-04-27", "2019-05-03", "2020-03-27", "2023-07-21", "2023-12-25"]
NO_CHART_DAY = "2020-03-28"
ROWS_ON_PAGE = {
    "2010-07-16": 44, "2019-04-26": 62, "2019-04-27": 61, "2019-05-03": 56,
    "2020-03-27": 1, "2023-07-21": 21, "2023-12-25": 34,
}
BASE = "https://www.boxofficemojo.com"


def page_bytes(day: str) -> bytes:
    path = PAGES / f"{day}.html.gz"
    assert path.is_file(), (
        f"Fixture page {path} is missing. The saved Box Office Mojo pages belong in "
        f"<shared>/fixtures/boxofficemojo_daily; set CINESEQ_SHARED to the shared folder if it is elsewhere."
    )
    return gzip.decompress(path.read_bytes())


def chart(day: str) -> DailyChart:
    return parse_daily_chart(page_bytes(day), day)


def film_row(day: str, title: str) -> pd.Series:
    rows = chart(day).rows
    found = rows[rows["title"] == title]
    assert len(found) == 1, f"{title!r} should be on the {day} chart once"
    return found.iloc[0]


# --- every saved page -------------------------------------------------------------------------


def test_fixture_folder_holds_exactly_the_known_pages():
    assert PAGES.is_dir(), f"Fixture folder {PAGES} is missing; set CINESEQ_SHARED to the shared folder."
    on_disk = sorted(path.name for path in PAGES.glob("*.html.gz"))
    assert on_disk == sorted(f"{day}.html.gz" for day in CHART_DAYS + [NO_CHART_DAY]), (
        "A page was added or removed: list it in CHART_DAYS (or NO_CHART_DAY) so it is checked."
    )


@pytest.mark.parametrize("day", CHART_DAYS)
def test_every_chart_page_parses_into_clean_rows(day):
    result = chart(day)
    rows = result.rows
    assert result.status == "ok" and result.note == ""
    assert result.date == datetime.date.fromisoformat(day)
    assert list(rows.columns) == CHART_COLUMNS and rows.columns[: len(DAILY_COLUMNS)].tolist() == DAILY_COLUMNS
    assert len(rows) == ROWS_ON_PAGE[day]
    assert rows["film_id"].map(lambda film_id: re.fullmatch(r"rl\d+", film_id) is not None).all()
    assert rows["film_id"].is_unique
    assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
    assert (rows["date"] == pd.Timestamp(day)).all()
    assert (rows["gross"] > 0).all() and (rows["gross_to_date"] >= rows["gross"]).all()
    assert rows["title"].str.len().gt(0).all()
    assert str(rows["date"].dtype) == "datetime64[ns]"
    assert rows[["estimated", "new_this_day"]].dtypes.eq(bool).all()


def test_no_chart_day_says_so_with_the_same_columns():
    result = chart(NO_CHART_DAY)
    assert result.status == "no_chart"
    assert result.note.startswith("Box Office Mojo shows no chart for 2020-03-28")
    assert "No data available" in result.note
    assert result.rows.empty
    assert list(result.rows.columns) == CHART_COLUMNS
    assert result.rows.dtypes.astype(str).tolist() == chart("2010-07-16").rows.dtypes.astype(str).tolist()


# --- facts read off the pages -----------------------------------------------------------------


def test_inception_opening_day():
    inception = film_row("2010-07-16", "Inception")
    assert inception["film_id"] == "rl2908456449"
    assert inception["rank"] == 1
    assert inception["gross"] == 21_782_199.0
    assert inception["theaters"] == 3_792.0
    assert inception["gross_to_date"] == 21_782_199.0
    assert inception["day_of_run"] == 1.0
    assert inception["distributor"] == "Warner Bros."
    assert inception["new_this_day"] and not inception["estimated"]


def test_the_only_estimated_figure_on_inceptions_day():
    rows = chart("2010-07-16").rows
    assert rows.loc[rows["estimated"], "title"].tolist() == ["Standing Ovation"]


def test_avengers_endgame_opening_day_day_two_and_day_eight():
    opening = film_row("2019-04-26", "Avengers: Endgame")
    day_two = film_row("2019-04-27", "Avengers: Endgame")
    day_eight = film_row("2019-05-03", "Avengers: Endgame")
    assert {opening["film_id"], day_two["film_id"], day_eight["film_id"]} == {"rl3059975681"}
    assert (opening["rank"], opening["gross"], opening["theaters"]) == (1, 157_461_641.0, 4_662.0)
    assert opening["distributor"] == "Walt Disney Studios Motion Pictures"
    assert opening["new_this_day"] and not day_two["new_this_day"]
    assert (day_two["gross"], day_two["gross_to_date"], day_two["day_of_run"]) == (109_264_122.0, 266_725_763.0, 2.0)
    # The running total moves by exactly the day's gross.
    assert day_two["gross_to_date"] - opening["gross_to_date"] == day_two["gross"]
    assert (day_eight["gross"], day_eight["gross_to_date"], day_eight["day_of_run"]) == (40_736_774.0, 514_631_412.0, 8.0)


def test_barbie_and_oppenheimer_open_the_same_day_on_estimates():
    rows = chart("2023-07-21").rows
    barbie, oppenheimer = rows.iloc[0], rows.iloc[1]
    assert (barbie["title"], barbie["film_id"], barbie["rank"]) == ("Barbie", "rl1077904129", 1)
    assert (barbie["gross"], barbie["theaters"], barbie["distributor"]) == (70_800_000.0, 4_243.0, "Warner Bros.")
    assert (oppenheimer["title"], oppenheimer["film_id"], oppenheimer["rank"]) == ("Oppenheimer", "rl3725886209", 2)
    assert (oppenheimer["gross"], oppenheimer["theaters"]) == (33_080_000.0, 3_610.0)
    assert oppenheimer["distributor"] == "Universal Pictures"
    assert rows.loc[rows["new_this_day"], "title"].tolist() == ["Barbie", "Oppenheimer"]
    assert rows["estimated"].all()  # every figure that day was a studio estimate


def test_last_chart_before_the_2020_closures_has_one_film_with_its_accent():
    rows = chart("2020-03-27").rows
    assert rows["title"].tolist() == ["Be Natural: The Untold Story of Alice Guy-Blaché"]
    only = rows.iloc[0]
    assert (only["gross"], only["theaters"], only["day_of_run"], only["gross_to_date"]) == (192.0, 1.0, 344.0, 115_685.0)
    assert only["distributor"] == "Zeitgeist Films"


@pytest.mark.parametrize(
    ("day", "title", "shown_as"),
    [
        ("2019-04-26", "Mia and the White Lion", "-"),
        ("2023-12-25", "The Boys in the Boat", "-"),
        ("2023-12-25", "Salaar", "N/A"),
    ],
)
def test_a_distributor_shown_as_a_placeholder_is_none(day, title, shown_as):
    assert film_row(day, title)["distributor"] is None


def test_christmas_2023_chart():
    rows = chart("2023-12-25").rows
    assert rows.iloc[0][["title", "gross", "theaters"]].tolist() == ["The Color Purple", 18_150_000.0, 3_152.0]
    aquaman = film_row("2023-12-25", "Aquaman and the Lost Kingdom")
    assert aquaman["estimated"] and aquaman["gross_to_date"] == 38_300_000.0 and aquaman["day_of_run"] == 4.0


# --- cells found by header, not position ------------------------------------------------------


def rewrite_chart_table(day: str, edit_cells) -> bytes:
    """The saved page with ``edit_cells(cells) -> cells`` applied to every row of the chart table."""
    document = html.document_fromstring(page_bytes(day))
    for row in document.xpath('//table[contains(@class, "mojo-body-table")]//tr'):
        cells = row.xpath("./td|./th")
        for cell in cells:
            row.remove(cell)
        for cell in edit_cells(cells):
            row.append(cell)
    return html.tostring(document, encoding="utf-8")


def test_reordered_columns_without_flag_columns_give_the_same_rows():
    original = chart("2023-07-21").rows

    def reorder_and_drop_flags(cells):
        # Swap Daily (3) and Theaters (6), put Distributor first, drop New This Day and Estimated.
        cells = cells[:11]
        cells[3], cells[6] = cells[6], cells[3]
        return [cells[10]] + cells[:10]

    rewritten = parse_daily_chart(rewrite_chart_table("2023-07-21", reorder_and_drop_flags), "2023-07-21").rows
    pd.testing.assert_frame_equal(rewritten, original)  # flags now come from the rows' annotation classes


def test_dash_in_number_cells_means_missing():
    def blank_theaters_and_days(cells):
        if cells[0].tag == "td" and cells[0].text_content().strip() == "1":
            cells[6].text, cells[9].text = "-", "-"
        return cells

    page = rewrite_chart_table("2010-07-16", blank_theaters_and_days)
    inception = parse_daily_chart(page, "2010-07-16").rows.iloc[0]
    assert math.isnan(inception["theaters"]) and math.isnan(inception["day_of_run"])
    assert inception["gross"] == 21_782_199.0


# --- pages that are not a chart ---------------------------------------------------------------


def test_random_html_raises_naming_the_date_and_what_is_missing():
    page = "<html><head><title>Robot check</title></head><body><p>Enter the characters</p></body></html>"
    with pytest.raises(ChartPageError) as caught:
        parse_daily_chart(page, datetime.date(2019, 4, 26))
    message = str(caught.value)
    assert "2019-04-26" in message and "mojo-body-table" in message
    assert isinstance(caught.value, CineSeqError)


def test_a_table_with_unexpected_headers_raises_naming_the_missing_columns():
    page = """<html><body><h1>Domestic Box Office For Apr 26, 2019</h1>
      <table class="a-bordered mojo-body-table"><tr><th>Rank</th><th>Movie</th><th>Revenue</th></tr>
      <tr><td>1</td><td><a href="/release/rl3059975681/">Avengers: Endgame</a></td><td>$1</td></tr></table>
      </body></html>"""
    with pytest.raises(ChartPageError) as caught:
        parse_daily_chart(page, "2019-04-26")
    message = str(caught.value)
    assert "2019-04-26" in message
    assert "title" in message and "gross" in message and "theaters" in message


def test_a_chart_for_another_day_is_refused():
    with pytest.raises(ChartPageError, match="chart for 2010-07-16, not 2010-07-17"):
        parse_daily_chart(page_bytes("2010-07-16"), "2010-07-17")


def test_an_unreadable_number_is_refused_not_guessed():
    def break_gross(cells):
        if cells[0].tag == "td" and cells[0].text_content().strip() == "1":
            cells[3].text = "about 21 million"
        return cells

    with pytest.raises(ChartPageError, match="rl2908456449: gross 'about 21 million' is not a number"):
        parse_daily_chart(rewrite_chart_table("2010-07-16", break_gross), "2010-07-16")


@pytest.mark.parametrize("page", ["", b"", "   "])
def test_an_empty_page_raises(page):
    with pytest.raises(ChartPageError, match="2010-07-16"):
        parse_daily_chart(page, "2010-07-16")


# --- fetching ---------------------------------------------------------------------------------


def test_chart_url():
    assert chart_url(datetime.date(2010, 7, 16)) == "https://www.boxofficemojo.com/date/2010-07-16/"
    assert chart_url("2023-07-21", base_url="http://mirror.test/") == "http://mirror.test/date/2023-07-21/"


@responses.activate
def test_fetch_parses_the_served_page_and_sends_a_user_agent():
    responses.get(f"{BASE}/date/2010-07-16/", body=page_bytes("2010-07-16"), content_type="text/html;charset=UTF-8")
    result = fetch_daily_chart(datetime.date(2010, 7, 16), user_agent="cineseq-test")
    assert result.status == "ok" and result.rows.iloc[0]["title"] == "Inception"
    assert responses.calls[0].request.headers["User-Agent"] == "cineseq-test"


@responses.activate
def test_fetch_of_a_day_without_chart_is_no_chart():
    responses.get(f"{BASE}/date/2020-03-28/", body=page_bytes(NO_CHART_DAY), content_type="text/html")
    result = fetch_daily_chart("2020-03-28", session=requests.Session())
    assert result.status == "no_chart" and result.rows.empty


def assert_unavailable_message(error: SourceUnavailableError, day: str, reason: str):
    message = str(error)
    assert error.source == "Box Office Mojo"
    assert message.startswith(f"Box Office Mojo is unavailable for the daily chart of {day}")
    assert reason in message
    assert "box_office.kind: bundled" in message and "box_office.kind: user_file" in message


@responses.activate
def test_connection_error_is_source_unavailable():
    responses.get(f"{BASE}/date/2019-04-26/", body=requests.ConnectionError("Name or service not known"))
    with pytest.raises(SourceUnavailableError) as caught:
        fetch_daily_chart("2019-04-26")
    assert_unavailable_message(caught.value, "2019-04-26", "could not connect")


@responses.activate
def test_timeout_is_source_unavailable():
    responses.get(f"{BASE}/date/2019-04-26/", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(SourceUnavailableError) as caught:
        fetch_daily_chart("2019-04-26", timeout=5)
    assert_unavailable_message(caught.value, "2019-04-26", "within 5 s")


@pytest.mark.parametrize("status", [500, 503, 404, 403])
@responses.activate
def test_http_error_is_source_unavailable(status):
    responses.get(f"{BASE}/date/2019-04-26/", status=status, body="<html>error</html>")
    with pytest.raises(SourceUnavailableError) as caught:
        fetch_daily_chart("2019-04-26")
    assert_unavailable_message(caught.value, "2019-04-26", f"HTTP {status}")


@responses.activate
def test_fetched_page_that_is_not_a_chart_raises_chart_page_error():
    captcha = "<html><body>Sorry, we just need to make sure you're not a robot.</body></html>"
    responses.get(f"{BASE}/date/2019-04-26/", body=captcha)
    with pytest.raises(ChartPageError, match="2019-04-26"):
        fetch_daily_chart("2019-04-26")


def test_a_chart_table_without_release_rows_is_no_chart():
    def header_only(cells):
        return cells if cells[0].tag == "th" else []

    document = html.document_fromstring(rewrite_chart_table("2020-03-27", header_only))
    for row in document.xpath('//table[contains(@class, "mojo-body-table")]//tr[not(*)]'):
        row.getparent().remove(row)
    result = parse_daily_chart(html.tostring(document), "2020-03-27")
    assert result.status == "no_chart" and result.rows.empty
    assert result.note == "Box Office Mojo shows no chart for 2020-03-27: the chart table lists no releases"
