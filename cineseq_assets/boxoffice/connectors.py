"""Live clients for film metadata and pre-release buzz: TMDB, the YouTube Data API, Google Trends.

Plain Python (no Dagster). Every failure a user can meet (no network, a timeout, an HTTP error, a
spent quota, a body that is not the expected JSON) becomes ``SourceUnavailableError`` naming the
source, the film and the reason, with the setting that avoids the live source.

API keys never appear in messages, exceptions, reprs or logs. A TMDB API Read Access Token (a JWT,
TMDB's default credential) travels in an ``Authorization: Bearer`` header, which TMDB's v3 API
accepts. A TMDB v3 ``api_key`` and a YouTube key can only be query parameters, so they are part of
the request URL: urllib3 logs that URL at DEBUG (the key is redacted from those records by a log
filter), and requests copies it into its own exception messages; those exceptions are therefore
never chained onto ours (``from None``) and every reason we build is passed through ``_redact`` as a
second guard.
"""

from __future__ import annotations

import logging
import time
from statistics import mean

import pandas as pd
import requests
from lxml import html
from pytrends.exceptions import ResponseError, TooManyRequestsError
from pytrends.request import TrendReq

from ..errors import SourceUnavailableError
from .metadata import normalize_title

log = logging.getLogger(__name__)

METADATA_HINT = "To work offline, set metadata.kind to bundled."
BUZZ_HINT = "To work offline, set buzz.kind to bundled."

# A release is matched within this many years of the requested one: TMDB's primary release date
# is often a festival or foreign premiere months before the US opening.
YEAR_WINDOW = 1


class _RedactKeys(logging.Filter):
    """Replaces the keys it knows in the records of the logger it is attached to (urllib3's, which
    logs every request line, query string included, at DEBUG)."""

    def __init__(self):
        super().__init__()
        self.keys: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(key in message for key in self.keys):
            for key in self.keys:
                message = message.replace(key, "***")
            record.msg, record.args = message, ()
        return True


_URL_LOG_FILTER = _RedactKeys()
logging.getLogger("urllib3.connectionpool").addFilter(_URL_LOG_FILTER)


def _is_read_access_token(key: str) -> bool:
    """TMDB's API Read Access Token is a JWT (three dot-separated base64 parts, starting "eyJ");
    a v3 api_key is 32 hex digits."""
    return key.startswith("eyJ") and key.count(".") == 2


class _KeyedJsonApi:
    """GET JSON from one keyed HTTP API, turning every failure into ``SourceUnavailableError``.

    ``key_param`` names the query parameter that carries the key; ``bearer`` sends it in an
    ``Authorization: Bearer`` header instead, out of the URL."""

    def __init__(self, source: str, api_key: str, key_param: str, base_url: str,
                 session: requests.Session | None, timeout: float, offline_hint: str, bearer: bool = False):
        self.source, self.key_param, self.offline_hint = source, key_param, offline_hint
        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self.session = session or requests.Session()
        self._api_key, self._bearer = api_key, bearer
        if api_key and not bearer:
            _URL_LOG_FILTER.keys.add(api_key)

    def get(self, path: str, params: dict, film: str) -> dict:
        url = f"{self.base_url}/{path.lstrip('/')}"
        if self._bearer:
            auth = {"headers": {"Authorization": f"Bearer {self._api_key}"}, "params": params}
        else:
            auth = {"params": {**params, self.key_param: self._api_key}}
        try:
            response = self.session.get(url, timeout=self.timeout, **auth)
        except requests.Timeout:
            raise self.unavailable(film, f"no answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise self.unavailable(film, f"could not connect to {self.base_url} ({type(exc).__name__})") from None
        if response.status_code >= 400:
            raise self.unavailable(film, _http_failure(response)) from None
        try:
            return response.json()
        except ValueError:
            raise self.unavailable(film, f"{path} answered with malformed JSON") from None

    def unavailable(self, film: str, reason: str) -> SourceUnavailableError:
        reason = self._redact(reason)
        log.warning("%s unavailable for %r: %s", self.source, film, reason)
        return SourceUnavailableError(self.source, f"film {film!r}", reason, self.offline_hint)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text


class TMDBClient:
    """The Movie Database (TMDB) v3: release date, genres, runtime, budget and ratings of a film.

    ``api_key`` is the API Read Access Token (sent as a Bearer header) or the v3 API key (a query
    parameter): both are on the account's API settings page."""

    def __init__(self, api_key: str, base_url: str = "https://api.themoviedb.org/3",
                 session: requests.Session | None = None, timeout: float = 20.0):
        self._api = _KeyedJsonApi("TMDB", api_key, "api_key", base_url, session, timeout, METADATA_HINT,
                                  bearer=_is_read_access_token(api_key))

    def __repr__(self) -> str:
        return f"TMDBClient(base_url={self._api.base_url!r}, timeout={self._api.timeout!r}, api_key=<hidden>)"

    def movie_metadata(self, title: str, year: int | None) -> dict | None:
        """Metadata of the film called ``title`` released within a year of ``year``; None if no match.

        Searches ``/search/movie`` (TMDB's ``year`` filter matches any of a film's release dates,
        so a US opening a year after the premiere is still found), keeps results whose normalized
        title equals the query's, picks the closest primary release year within +-1 (then the most
        voted), and reads ``/movie/{id}``. Returns ``tmdb_id, title, release_date, genres,
        runtime, budget, vote_average, vote_count, popularity``; ``budget`` and ``runtime`` are
        None where TMDB stores 0 (unknown).
        """
        params = {"query": title, "include_adult": "false"}
        if year is not None:
            params["year"] = int(year)
        found = self._api.get("/search/movie", params, title)
        results = found.get("results") if isinstance(found, dict) else None
        if not isinstance(results, list):
            raise self._api.unavailable(title, "/search/movie answered without a 'results' list")
        best = _best_title_match(results, title, year)
        if best is None:
            return None
        details = self._api.get(f"/movie/{best['id']}", {}, title)
        return _tmdb_record(details, title, self._api)


def _best_title_match(results: list[dict], title: str, year: int | None) -> dict | None:
    """Same normalized title, then the closest primary release year within the window, then most votes."""
    wanted = normalize_title(title)
    ranked = []
    for result in results:
        names = {normalize_title(result.get("title")), normalize_title(result.get("original_title"))}
        gap = _year_gap(result.get("release_date"), year)
        if wanted and wanted in names and gap is not None and gap <= YEAR_WINDOW:
            ranked.append((gap, -(result.get("vote_count") or 0), result))
    return min(ranked, key=lambda entry: entry[:2])[2] if ranked else None


def _year_gap(release_date, year: int | None) -> int | None:
    """Years between a result's release and the wanted year: 0 when no year is wanted, None if undated."""
    if year is None:
        return 0
    released = _year_of(release_date)
    return None if released is None else abs(released - int(year))


def _tmdb_record(details: dict, title: str, api: _KeyedJsonApi) -> dict:
    if not isinstance(details, dict) or "id" not in details:
        raise api.unavailable(title, "/movie answered without the film's details")
    return {
        "tmdb_id": int(details["id"]),
        "title": details.get("title"),
        "release_date": details.get("release_date") or None,  # TMDB sends "" when unknown
        "genres": [genre["name"] for genre in details.get("genres") or []],
        "runtime": _positive_or_none(details.get("runtime")),
        "budget": _positive_or_none(details.get("budget")),
        "vote_average": _float_or_none(details.get("vote_average")),
        "vote_count": int(details.get("vote_count") or 0),
        "popularity": _float_or_none(details.get("popularity")),
    }


class YouTubeClient:
    """YouTube Data API v3: view and like counts of a film's official trailers."""

    def __init__(self, api_key: str, base_url: str = "https://www.googleapis.com/youtube/v3",
                 session: requests.Session | None = None, timeout: float = 20.0):
        self._api = _KeyedJsonApi("YouTube", api_key, "key", base_url, session, timeout, BUZZ_HINT)

    def __repr__(self) -> str:
        return f"YouTubeClient(base_url={self._api.base_url!r}, timeout={self._api.timeout!r}, api_key=<hidden>)"

    def trailer_stats(self, title: str, year: int | None, max_results: int = 5) -> dict | None:
        """Mean views and likes of the film's trailers found by search; None when none is found.

        Searches ``"<title> <year> official trailer"`` (``search.list``, videos only), keeps the
        results whose title contains "trailer" (as the TrailerTrends data set did), and reads their
        counts with ``videos.list``. Returns ``views, likes, n_trailers, video_ids``; ``likes`` is
        None when every trailer hides its like count. The counts are today's, not pre-release.
        """
        query = " ".join(part for part in (title, str(year) if year else "", "official trailer") if part)
        params = {"part": "snippet", "q": query, "type": "video", "maxResults": int(max_results)}
        found = self._api.get("/search", params, title)
        trailer_ids = _trailer_video_ids(_items(found, "/search", title, self._api))
        if not trailer_ids:
            return None
        videos = self._api.get("/videos", {"part": "statistics", "id": ",".join(trailer_ids)}, title)
        return _trailer_summary(_items(videos, "/videos", title, self._api))


def _items(payload: dict, path: str, title: str, api: _KeyedJsonApi) -> list[dict]:
    items = payload.get("items") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise api.unavailable(title, f"{path} answered without an 'items' list")
    return items


def _trailer_video_ids(search_items: list[dict]) -> list[str]:
    ids = []
    for item in search_items:
        video_id = (item.get("id") or {}).get("videoId")
        video_title = (item.get("snippet") or {}).get("title", "")
        if video_id and "trailer" in video_title.lower():
            ids.append(video_id)
    return ids


def _trailer_summary(video_items: list[dict]) -> dict | None:
    stats = [(item.get("id"), item.get("statistics") or {}) for item in video_items]
    views = [int(counts["viewCount"]) for _, counts in stats if "viewCount" in counts]
    if not views:
        return None  # the videos were removed or made private since the search index saw them
    likes = [int(counts["likeCount"]) for _, counts in stats if "likeCount" in counts]
    return {
        "views": float(mean(views)),
        "likes": float(mean(likes)) if likes else None,
        "n_trailers": len(views),
        "video_ids": [video_id for video_id, counts in stats if "viewCount" in counts],
    }


class TrendsClient:
    """Google Trends weekly search interest in "<title> trailer" on YouTube, US, through pytrends.

    pytrends 4.9.2 was checked on this path with pandas 3.1: ``build_payload`` and
    ``interest_over_time`` run cleanly (no warnings) on responses shaped like Google's. What does
    break is pytrends' own retry option: with ``retries > 0`` it builds
    ``urllib3.Retry(method_whitelist=...)``, an argument urllib3 2 removed (TypeError). So pytrends
    always gets ``retries=0`` and the retries happen here instead.
    """

    SOURCE = "Google Trends"

    def __init__(self, hl: str = "en-US", tz: int = 300, timeout=(10, 25), retries: int = 0,
                 backoff_seconds: float = 5.0):
        self.hl, self.tz, self.timeout = hl, tz, timeout
        self.retries, self.backoff_seconds = retries, backoff_seconds

    def __repr__(self) -> str:
        return f"TrendsClient(hl={self.hl!r}, tz={self.tz!r}, timeout={self.timeout!r}, retries={self.retries!r})"

    def weekly_interest(self, title: str, release_date) -> pd.DataFrame:
        """Weekly interest (0-100) from 13 months to 1 month before ``release_date``.

        Columns ``date`` (week start, a Sunday) and ``interest`` (int). Google scales each query's
        own maximum to 100, so values are not comparable across films. An empty frame means Google
        returned no data points (too little search volume; Google also does this now and then
        for a query that has data, so an empty series is weak evidence).
        """
        keyword = f"{title} trailer"
        timeframe = trends_timeframe(release_date)
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))  # Google throttles bursts; back off
            try:
                return self._fetch(keyword, timeframe)
            except (requests.RequestException, ResponseError) as exc:  # worth another try
                failure = exc
            except (ValueError, KeyError, IndexError) as exc:  # a body pytrends could not read
                raise self._unavailable(title, f"unexpected response ({type(exc).__name__}: {exc})") from exc
        raise self._unavailable(title, _trends_failure(failure)) from failure

    def _fetch(self, keyword: str, timeframe: str) -> pd.DataFrame:
        trends = TrendReq(hl=self.hl, tz=self.tz, timeout=self.timeout, retries=0)
        trends.build_payload([keyword], timeframe=timeframe, geo="US", gprop="youtube")
        return _weekly_frame(trends.interest_over_time(), keyword)

    def _unavailable(self, title: str, reason: str) -> SourceUnavailableError:
        log.warning("%s unavailable for %r: %s", self.SOURCE, title, reason)
        return SourceUnavailableError(self.SOURCE, f"film {title!r}", reason, BUZZ_HINT)


def trends_timeframe(release_date) -> str:
    """pytrends timeframe 'YYYY-MM-DD YYYY-MM-DD': 13 months to 1 month before the release."""
    release = pd.Timestamp(release_date)
    start, end = release - pd.DateOffset(months=13), release - pd.DateOffset(months=1)
    return f"{start:%Y-%m-%d} {end:%Y-%m-%d}"


def _weekly_frame(raw: pd.DataFrame, keyword: str) -> pd.DataFrame:
    if raw.empty or keyword not in raw:
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "interest": pd.Series(dtype="int64")})
    return pd.DataFrame({
        "date": pd.DatetimeIndex(raw.index).normalize().astype("datetime64[ns]"),
        "interest": raw[keyword].astype("int64").to_numpy(),
    })


def _trends_failure(exc: Exception) -> str:
    if isinstance(exc, TooManyRequestsError):
        return "Google answered HTTP 429 (too many requests); Google Trends throttles bursts, try again later"
    if isinstance(exc, ResponseError):
        return f"Google answered HTTP {exc.response.status_code}"
    if isinstance(exc, requests.Timeout):
        return "no answer from trends.google.com in time"
    return f"could not connect to trends.google.com ({type(exc).__name__})"


# --- small helpers ----------------------------------------------------------------------------


def _http_failure(response: requests.Response) -> str:
    """'HTTP 429 ...' plus the API's own explanation, which both APIs put in the JSON body."""
    reason = f"HTTP {response.status_code}"
    if response.status_code in (403, 429):
        reason += " (quota or rate limit reached)"
    detail = _api_error_detail(response)
    return f"{reason}: {detail}" if detail else reason


def _api_error_detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    if "status_message" in body:  # TMDB: {"status_code": 7, "status_message": "Invalid API key ..."}
        return str(body["status_message"])
    error = body.get("error")
    if isinstance(error, dict):  # Google: {"error": {"message": ..., "errors": [{"reason": ...}]}}
        reasons = [item.get("reason") for item in error.get("errors") or [] if item.get("reason")]
        message = _plain_text(str(error.get("message", "")))
        return f"{message} ({', '.join(reasons)})" if reasons else message
    return ""


def _plain_text(markup: str) -> str:
    """Google's error messages carry HTML links ('exceeded your <a href=...>quota</a>')."""
    return " ".join(html.fragment_fromstring(markup, create_parent="div").text_content().split()) if markup else ""


def _year_of(date_text) -> int | None:
    try:
        return int(str(date_text)[:4])
    except ValueError:
        return None


def _positive_or_none(value) -> float | None:
    return float(value) if value else None


def _float_or_none(value) -> float | None:
    return None if value is None else float(value)


__all__ = ["TMDBClient", "YouTubeClient", "TrendsClient", "trends_timeframe", "METADATA_HINT", "BUZZ_HINT"]
