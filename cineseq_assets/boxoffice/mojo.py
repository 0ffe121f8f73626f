"""Box Office Mojo's "Domestic Box Office For <date>" daily chart: fetch one page, parse its table.

The page lists every release on the chart that day in one table (class ``mojo-body-table``); each
row links its release as ``/release/rlNNNN/``, and that id is the film key everywhere else. Cells
are found by their header text, not by position, so a reordered or extended table still parses;
a page that is not a daily chart raises ``ChartPageError`` instead of returning wrong numbers.

Plain Python (no Dagster): the asset layer decides what to do with a day that has no chart.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass

import pandas as pd
import requests
from lxml import etree, html

from ..errors import CineSeqError, SourceUnavailableError
from .schema import DAILY_COLUMNS

SOURCE_NAME = "Box Office Mojo"
DEFAULT_BASE_URL = "https://www.boxofficemojo.com"
DEFAULT_USER_AGENT = "CineSeq/0.1 (box-office forecasting; daily chart reader)"
OFFLINE_HINT = (
    "To work offline, use the bundled dataset (box_office.kind: bundled) "
    "or your own daily file (box_office.kind: user_file)."
)

# The chart's extra columns, after the shared daily schema.
EXTRA_COLUMNS = ["rank", "gross_to_date", "estimated", "new_this_day"]
CHART_COLUMNS = DAILY_COLUMNS + EXTRA_COLUMNS

_COLUMN_DTYPES = {
    "film_id": "str",
    "date": "datetime64[ns]",
    "title": "str",
    "gross": "float64",
    "theaters": "float64",
    "distributor": "object",  # object, so a missing distributor stays None
    "day_of_run": "float64",
    "rank": "int64",
    "gross_to_date": "float64",
    "estimated": "bool",
    "new_this_day": "bool",
}

# Header text (or the header's title attribute), lower-cased -> our column. Both spellings are
# listed so that a page which shows only one of them still maps.
_HEADER_NAMES = {
    "rank": {"td", "rank"},
    "title": {"release", "title"},
    "gross": {"daily", "daily gross"},
    "theaters": {"theaters", "number of theaters"},
    "gross_to_date": {"to date", "gross to date"},
    "day_of_run": {"days", "number of days in release"},
    "distributor": {"distributor"},
    "new_this_day": {"new this day", "is new this day"},
    "estimated": {"estimated"},
}
_REQUIRED_FIELDS = ["rank", "title", "gross", "theaters", "gross_to_date", "day_of_run", "distributor"]
# When the flag columns are absent the row's annotation class still carries the flag.
_FLAG_ROW_CLASSES = {"new_this_day": "mojo-annotation-isNewThisDay", "estimated": "mojo-annotation-isEstimated"}

# The site's placeholders for "no value". "N/A" appears as a distributor (Salaar, 2023-12-25).
_MISSING_TEXT = {"", "-", "–", "n/a"}
_RELEASE_ID = re.compile(r"/release/(rl\d+)/")
_HEADING_PREFIX = "Domestic Box Office For"

_TABLE_XPATH = '//table[contains(concat(" ", normalize-space(@class), " "), " mojo-body-table ")]'
_RELEASE_LINK_XPATH = './/a[contains(@href, "/release/rl")]/@href'


class ChartPageError(CineSeqError):
    """A page that should be a Box Office Mojo daily chart is not one, or its table is unreadable."""

    def __init__(self, date: datetime.date, problem: str):
        self.date, self.problem = date, problem
        super().__init__(
            f"Box Office Mojo page for {date.isoformat()}: {problem}. "
            f"The site may have changed its layout. {OFFLINE_HINT}"
        )


@dataclass
class DailyChart:
    """One day's chart: ``rows`` has ``CHART_COLUMNS``; it is empty when ``status`` is "no_chart"."""

    date: datetime.date
    rows: pd.DataFrame
    status: str  # "ok" or "no_chart"
    note: str


def chart_url(date, base_url: str = DEFAULT_BASE_URL) -> str:
    """The daily chart page for ``date``: ``{base_url}/date/YYYY-MM-DD/``."""
    return f"{base_url.rstrip('/')}/date/{_as_date(date).isoformat()}/"


def parse_daily_chart(page: str | bytes, date) -> DailyChart:
    """Parse a saved or fetched daily chart page into one row per release on the chart.

    A real chart page without a table (the site shows "No data available.", e.g. 2020-03-28 when
    theaters were closed) gives ``status="no_chart"`` and empty rows. Anything else that is not a
    readable chart for ``date`` raises ``ChartPageError``.
    """
    day = _as_date(date)
    document = _parse_html(page, day)
    heading = _page_heading(document)
    _check_heading_date(heading, day)
    tables = document.xpath(_TABLE_XPATH)
    if not tables:
        return _no_chart(document, heading, day)
    rows = _table_rows(tables[0], day)
    if rows.empty:
        note = f"Box Office Mojo shows no chart for {day.isoformat()}: the chart table lists no releases"
        return DailyChart(date=day, rows=rows, status="no_chart", note=note)
    return DailyChart(date=day, rows=rows, status="ok", note="")


def fetch_daily_chart(
    date,
    *,
    session: requests.Session | None = None,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = 30.0,
    user_agent: str = DEFAULT_USER_AGENT,
) -> DailyChart:
    """Download and parse the daily chart for ``date``.

    Raises ``SourceUnavailableError`` when the site cannot be reached, times out, or answers with
    an HTTP error. That includes 404: Box Office Mojo serves a day without a chart as a normal
    page saying "No data available." (returned here as ``status="no_chart"``), so a 404 means the
    address itself is wrong (a changed site layout or a bad ``base_url``). Treating it as "no
    chart" would silently turn every day into an empty chart.
    A page that arrives but is not a chart raises ``ChartPageError``.
    """
    day = _as_date(date)
    page = _download(chart_url(day, base_url), day, session, timeout, user_agent)
    return parse_daily_chart(page, day)


def _download(url: str, day: datetime.date, session: requests.Session | None, timeout: float,
              user_agent: str) -> bytes:
    http = session or requests.Session()
    try:
        response = http.get(url, timeout=timeout, headers={"User-Agent": user_agent})
    except requests.Timeout as exc:
        raise _unavailable(day, f"no answer from {url} within {timeout:g} s") from exc
    except requests.RequestException as exc:
        raise _unavailable(day, f"could not connect to {url} ({type(exc).__name__})") from exc
    finally:
        if session is None:
            http.close()
    if response.status_code == 404:
        raise _unavailable(day, f"{url} answered HTTP 404 Not Found; a day without a chart is a normal "
                                "page, so this address is wrong (check base_url)")
    if response.status_code >= 400:
        raise _unavailable(day, f"{url} answered HTTP {response.status_code} {response.reason or ''}".rstrip())
    return response.content


# --- page structure ---------------------------------------------------------------------------


def _parse_html(page: str | bytes, day: datetime.date) -> html.HtmlElement:
    # Bytes go to lxml as they are, so the page's own <meta charset> decides the encoding.
    try:
        return html.document_fromstring(page)
    except (etree.ParserError, ValueError) as exc:
        raise ChartPageError(day, f"the page is not readable HTML ({exc})") from None


def _page_heading(document: html.HtmlElement) -> str | None:
    for h1 in document.xpath("//h1"):
        text = _clean_text(h1.text_content())
        if text.startswith(_HEADING_PREFIX):
            return text
    return None


def _check_heading_date(heading: str | None, day: datetime.date) -> None:
    """Refuse a chart for another day (a redirect, or a file saved under the wrong name)."""
    if heading is None:
        return
    shown = heading[len(_HEADING_PREFIX):].strip()
    try:
        page_day = datetime.datetime.strptime(shown, "%b %d, %Y").date()
    except ValueError:
        return  # an unfamiliar date format is no reason to reject the table
    if page_day != day:
        raise ChartPageError(day, f"the page is the chart for {page_day.isoformat()}, not {day.isoformat()}")


def _no_chart(document: html.HtmlElement, heading: str | None, day: datetime.date) -> DailyChart:
    if heading is None:
        raise ChartPageError(
            day, f"no chart table (class 'mojo-body-table') and no '{_HEADING_PREFIX} ...' heading"
        )
    says_no_data = "No data available" in document.text_content()
    detail = 'the page says "No data available."' if says_no_data else "the page has no chart table"
    note = f"Box Office Mojo shows no chart for {day.isoformat()}: {detail}"
    return DailyChart(date=day, rows=_rows_frame([], day), status="no_chart", note=note)


def _table_rows(table: html.HtmlElement, day: datetime.date) -> pd.DataFrame:
    rows = table.xpath(".//tr")
    if not rows:
        raise ChartPageError(day, "the chart table has no rows")
    field_index = _map_header(rows[0], day)
    records = [_row_record(row, field_index, day) for row in rows[1:] if row.xpath(_RELEASE_LINK_XPATH)]
    return _rows_frame(records, day)


def _map_header(header_row: html.HtmlElement, day: datetime.date) -> dict[str, int]:
    """Column position of each field, from the header cells' text or title attribute."""
    positions: dict[str, int] = {}
    for position, cell in enumerate(_cells(header_row)):
        names = {_clean_text(cell.text_content()).lower()}
        names.update(_clean_text(title).lower() for title in cell.xpath(".//@title"))
        for field, spellings in _HEADER_NAMES.items():
            if field not in positions and names & spellings:
                positions[field] = position
    missing = [field for field in _REQUIRED_FIELDS if field not in positions]
    if missing:
        shown = [_clean_text(cell.text_content()) for cell in _cells(header_row)]
        raise ChartPageError(day, f"the chart table has no column for {', '.join(missing)} (headers: {shown})")
    return positions


def _row_record(row: html.HtmlElement, field_index: dict[str, int], day: datetime.date) -> dict:
    texts = [_clean_text(cell.text_content()) for cell in _cells(row)]
    if len(texts) <= max(field_index.values()):
        raise ChartPageError(day, f"a chart row has {len(texts)} cells, fewer than the header: {texts}")
    film_id = _release_id(row, day)

    def cell(field: str) -> str:
        return texts[field_index[field]]

    def number(field: str) -> float:
        return _number(cell(field), day, film_id, field)

    record = {
        "film_id": film_id,
        "title": cell("title"),
        "gross": number("gross"),
        "theaters": number("theaters"),
        "distributor": None if cell("distributor").lower() in _MISSING_TEXT else cell("distributor"),
        "day_of_run": number("day_of_run"),
        "rank": number("rank"),
        "gross_to_date": number("gross_to_date"),
    }
    if math.isnan(record["rank"]):
        raise ChartPageError(day, f"release {film_id} has no rank")
    record["rank"] = int(record["rank"])
    for flag in ("estimated", "new_this_day"):
        record[flag] = _flag(row, texts, field_index.get(flag), flag)
    return record


def _release_id(row: html.HtmlElement, day: datetime.date) -> str:
    for href in row.xpath(_RELEASE_LINK_XPATH):
        found = _RELEASE_ID.search(href)
        if found:
            return found.group(1)
    raise ChartPageError(day, f"a chart row links no release id: {row.xpath(_RELEASE_LINK_XPATH)}")


def _flag(row: html.HtmlElement, texts: list[str], position: int | None, flag: str) -> bool:
    if position is not None:
        return texts[position].lower() == "true"
    return _FLAG_ROW_CLASSES[flag] in (row.get("class") or "").split()


def _number(text: str, day: datetime.date, film_id: str, field: str) -> float:
    """'$21,782,199' -> 21782199.0; the site's '-' -> NaN; anything else is a page error."""
    if text.lower() in _MISSING_TEXT:
        return math.nan
    try:
        return float(text.replace("$", "").replace(",", ""))
    except ValueError:
        raise ChartPageError(day, f"release {film_id}: {field} {text!r} is not a number") from None


# --- small helpers ----------------------------------------------------------------------------


def _cells(row: html.HtmlElement) -> list[html.HtmlElement]:
    return row.xpath("./td|./th")


def _clean_text(text: str) -> str:
    return " ".join(text.split())


def _rows_frame(records: list[dict], day: datetime.date) -> pd.DataFrame:
    """The same columns and dtypes whether the chart has forty rows or none."""
    columns = {
        column: pd.Series([record[column] for record in records], dtype=dtype)
        for column, dtype in _COLUMN_DTYPES.items()
        if column != "date"
    }
    columns["date"] = pd.Series([pd.Timestamp(day)] * len(records), dtype=_COLUMN_DTYPES["date"])
    return pd.DataFrame(columns)[CHART_COLUMNS]


def _as_date(value) -> datetime.date:
    """Accept a date, datetime, pandas Timestamp or 'YYYY-MM-DD' string."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    return pd.Timestamp(value).date()


def _unavailable(day: datetime.date, reason: str) -> SourceUnavailableError:
    return SourceUnavailableError(SOURCE_NAME, f"the daily chart of {day.isoformat()}", reason, OFFLINE_HINT)
