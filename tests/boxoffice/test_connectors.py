"""TMDB, YouTube and Google Trends clients against recorded-format responses, mocked at the HTTP layer.

The response bodies live in tests/fixtures/connectors (see the README there). ``responses`` answers
every request; an unmatched request fails the test, so nothing reaches the network.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import requests
import responses
from responses import matchers

from cineseq_assets.boxoffice.connectors import TMDBClient, TrendsClient, YouTubeClient, trends_timeframe
from cineseq_assets.errors import SourceUnavailableError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "connectors"
API_KEY = "k3y-9f8e7d6c5b4a-SECRET"
TMDB = "https://api.themoviedb.org/3"
YOUTUBE = "https://www.googleapis.com/youtube/v3"
TRENDS = "https://trends.google.com/trends"
JSON_UTF8 = "application/json; charset=UTF-8"


def fixture_text(name: str) -> str:
    path = FIXTURES / name
    assert path.is_file(), f"Connector fixture {path} is missing (see tests/fixtures/connectors/README.md)."
    return path.read_text(encoding="utf-8")


def fixture_json(name: str):
    return json.loads(fixture_text(name))


def query_of(call) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


def assert_key_never_shown(error: Exception, caplog=None):
    """The key is in every request URL; it must not reach the message, the chain or the logs."""
    shown = [str(error), repr(error), "".join(traceback.format_exception(error))]
    if caplog is not None:
        shown.append(caplog.text)
    assert all(API_KEY not in text for text in shown)


# A requests error whose message carries the full URL, as urllib3's "Max retries exceeded" does.
def connection_error_with_url(path: str) -> requests.ConnectionError:
    return requests.ConnectionError(
        "HTTPSConnectionPool(host='api.example', port=443): "
        f"Max retries exceeded with url: {path}?api_key={API_KEY}&key={API_KEY}"
    )


# --- TMDB -------------------------------------------------------------------------------------

ARRIVAL_METADATA = {
    "tmdb_id": 329865,
    "title": "Arrival",
    "release_date": "2016-11-10",
    "genres": ["Thriller", "Drama", "Science Fiction", "Mystery"],
    "runtime": 113.0,
    "budget": 47_000_000.0,
    "vote_average": 7.6,
    "vote_count": 18310,
    "popularity": 32.712,
}


@responses.activate
def test_tmdb_metadata_searches_then_reads_details():
    responses.get(
        f"{TMDB}/search/movie",
        json=fixture_json("tmdb_search_movie_arrival_2016.json"),
        match=[matchers.query_param_matcher({"query": "Arrival", "year": "2016", "include_adult": "false", "api_key": API_KEY})],
    )
    responses.get(
        f"{TMDB}/movie/329865",
        json=fixture_json("tmdb_movie_329865.json"),
        match=[matchers.query_param_matcher({"api_key": API_KEY})],
    )
    assert TMDBClient(API_KEY).movie_metadata("Arrival", 2016) == ARRIVAL_METADATA


def serve_tmdb_details_for_any_id():
    def details(request):
        movie_id = int(re.search(r"/movie/(\d+)", request.url).group(1))
        return 200, {}, json.dumps({"id": movie_id, "title": "?", "release_date": "", "genres": [], "runtime": 0, "budget": 0})

    responses.add_callback(responses.GET, re.compile(rf"{re.escape(TMDB)}/movie/\d+"), callback=details)


@pytest.mark.parametrize(
    ("title", "year", "expected_id"),
    [
        ("Arrival", 2016, 329865),  # same year: the most voted of the two 2016 "Arrival"s
        ("Arrival", 2015, 329865),  # within one year
        ("Arrival", 2017, 329865),
        ("ARRIVAL", 2016, 329865),  # titles are compared normalized
        ("The Arrival", 1997, 10200),  # "The Arrival" (1996), one year off
        ("Arrival", None, 329865),  # no year: the most voted exact title
        ("Arrival", 2019, None),  # "Arrivals" (2019) is another title
        ("Arrival", 2013, None),  # nothing within a year
    ],
)
@responses.activate
def test_tmdb_match_is_exact_normalized_title_within_a_year(title, year, expected_id):
    responses.get(f"{TMDB}/search/movie", json=fixture_json("tmdb_search_movie_arrival_any_year.json"))
    serve_tmdb_details_for_any_id()
    found = TMDBClient(API_KEY).movie_metadata(title, year)
    assert (found["tmdb_id"] if found else None) == expected_id


@responses.activate
def test_tmdb_zero_budget_and_runtime_mean_unknown():
    responses.get(f"{TMDB}/search/movie", json=fixture_json("tmdb_search_movie_arrival_2016.json"))
    serve_tmdb_details_for_any_id()
    found = TMDBClient(API_KEY).movie_metadata("Arrival", 2016)
    assert found["budget"] is None and found["runtime"] is None and found["release_date"] is None


@responses.activate
def test_tmdb_no_result_is_none_without_a_details_call():
    responses.get(f"{TMDB}/search/movie", json=fixture_json("tmdb_search_movie_empty.json"))
    assert TMDBClient(API_KEY).movie_metadata("A Film Nobody Made", 2016) is None
    assert len(responses.calls) == 1


def tmdb_failure(caplog, **response) -> SourceUnavailableError:
    responses.get(f"{TMDB}/search/movie", **response)
    with caplog.at_level(logging.WARNING), pytest.raises(SourceUnavailableError) as caught:
        TMDBClient(API_KEY).movie_metadata("Arrival", 2016)
    error = caught.value
    assert error.source == "TMDB"
    assert str(error).startswith("TMDB is unavailable for film 'Arrival': ")
    assert str(error).endswith("To work offline, set metadata.kind to bundled.")
    assert_key_never_shown(error, caplog)
    return error


@pytest.mark.parametrize(
    ("status", "fixture", "expected"),
    [
        (500, "tmdb_error_500.json", "HTTP 500: Internal error: Something went wrong"),
        (429, "tmdb_error_429_rate_limit.json", "HTTP 429 (quota or rate limit reached): Your request count (41) is over"),
        (401, "tmdb_error_401_invalid_key.json", "HTTP 401: Invalid API key: You must be granted a valid key."),
    ],
)
@responses.activate
def test_tmdb_http_errors(caplog, status, fixture, expected):
    error = tmdb_failure(caplog, status=status, json=fixture_json(fixture))
    assert expected in str(error)


@responses.activate
def test_tmdb_connection_error_hides_the_key_that_requests_put_in_its_message(caplog):
    error = tmdb_failure(caplog, body=connection_error_with_url("/3/search/movie"))
    assert "could not connect to https://api.themoviedb.org/3 (ConnectionError)" in str(error)
    assert error.__cause__ is None and error.__suppress_context__


@responses.activate
def test_tmdb_timeout(caplog):
    error = tmdb_failure(caplog, body=requests.ReadTimeout("read timed out"))
    assert "no answer within 20 s" in str(error)


@responses.activate
def test_tmdb_malformed_json(caplog):
    error = tmdb_failure(caplog, body="<html><body>Bad gateway</body></html>", content_type="text/html")
    assert "/search/movie answered with malformed JSON" in str(error)


@responses.activate
def test_tmdb_json_of_the_wrong_shape(caplog):
    error = tmdb_failure(caplog, json={"unexpected": True})
    assert "without a 'results' list" in str(error)


def test_clients_never_show_their_key():
    for client in (TMDBClient(API_KEY), YouTubeClient(API_KEY)):
        assert API_KEY not in repr(client) and API_KEY not in str(client)
        assert "api_key=<hidden>" in repr(client)


@responses.activate
def test_a_custom_session_base_url_and_timeout_are_used():
    session = requests.Session()
    session.headers["X-Test"] = "yes"
    responses.get("http://tmdb.mirror.test/3/search/movie", json=fixture_json("tmdb_search_movie_empty.json"))
    TMDBClient(API_KEY, base_url="http://tmdb.mirror.test/3/", session=session, timeout=3).movie_metadata("Arrival", None)
    assert responses.calls[0].request.headers["X-Test"] == "yes"
    assert "year" not in query_of(responses.calls[0])


# --- YouTube ----------------------------------------------------------------------------------

ARRIVAL_TRAILERS = ["tFMo3UJ4B4g", "7W1m5ER3I1Y", "gwqSi_ToNPs", "AMgyWT075KY"]


@responses.activate
def test_youtube_trailer_stats_average_the_trailers_only():
    responses.get(
        f"{YOUTUBE}/search",
        json=fixture_json("youtube_search_arrival.json"),
        match=[matchers.query_param_matcher({
            "part": "snippet", "q": "Arrival 2016 official trailer", "type": "video", "maxResults": "5", "key": API_KEY,
        })],
    )
    responses.get(
        f"{YOUTUBE}/videos",
        json=fixture_json("youtube_videos_arrival.json"),
        # "Arrival (2016) - The Ending Explained" has no "trailer" in its title: not asked for.
        match=[matchers.query_param_matcher({"part": "statistics", "id": ",".join(ARRIVAL_TRAILERS), "key": API_KEY})],
    )
    stats = YouTubeClient(API_KEY).trailer_stats("Arrival", 2016)
    assert stats["n_trailers"] == 4
    assert stats["video_ids"] == ARRIVAL_TRAILERS
    assert stats["views"] == (12_401_532 + 5_120_870 + 4_164_274 + 913_400) / 4
    # One trailer hides its like count: the mean is over the three that show it.
    assert stats["likes"] == pytest.approx((88_104 + 21_093 + 26_903) / 3)


@responses.activate
def test_youtube_query_without_year():
    responses.get(f"{YOUTUBE}/search", json=fixture_json("youtube_search_empty.json"))
    assert YouTubeClient(API_KEY).trailer_stats("Arrival", None, max_results=3) is None
    assert query_of(responses.calls[0])["q"] == "Arrival official trailer"
    assert query_of(responses.calls[0])["maxResults"] == "3"


@responses.activate
def test_youtube_nothing_found_is_none_without_a_videos_call():
    responses.get(f"{YOUTUBE}/search", json=fixture_json("youtube_search_empty.json"))
    assert YouTubeClient(API_KEY).trailer_stats("A Film Nobody Made", 2016) is None
    assert len(responses.calls) == 1


@responses.activate
def test_youtube_results_without_a_trailer_are_none():
    search = fixture_json("youtube_search_arrival.json")
    search["items"] = [item for item in search["items"] if "Explained" in item["snippet"]["title"]]
    responses.get(f"{YOUTUBE}/search", json=search)
    assert YouTubeClient(API_KEY).trailer_stats("Arrival", 2016) is None
    assert len(responses.calls) == 1


def youtube_failure(caplog, search=None, videos=None) -> SourceUnavailableError:
    responses.get(f"{YOUTUBE}/search", **(search or {"json": fixture_json("youtube_search_arrival.json")}))
    if videos is not None:
        responses.get(f"{YOUTUBE}/videos", **videos)
    with caplog.at_level(logging.WARNING), pytest.raises(SourceUnavailableError) as caught:
        YouTubeClient(API_KEY).trailer_stats("Arrival", 2016)
    error = caught.value
    assert error.source == "YouTube"
    assert str(error).startswith("YouTube is unavailable for film 'Arrival': ")
    assert str(error).endswith("To work offline, set buzz.kind to bundled.")
    assert_key_never_shown(error, caplog)
    return error


@responses.activate
def test_youtube_daily_quota_spent(caplog):
    error = youtube_failure(caplog, search={"status": 403, "json": fixture_json("youtube_error_403_quota.json")})
    assert "HTTP 403 (quota or rate limit reached): The request cannot be completed because you have " \
           "exceeded your quota. (quotaExceeded)" in str(error)


@responses.activate
def test_youtube_rate_limited(caplog):
    error = youtube_failure(caplog, search={"status": 429, "body": ""})
    assert "HTTP 429 (quota or rate limit reached)" in str(error)


@responses.activate
def test_youtube_invalid_key(caplog):
    error = youtube_failure(caplog, search={"status": 400, "json": fixture_json("youtube_error_400_key_invalid.json")})
    assert "HTTP 400: API key not valid. Please pass a valid API key. (badRequest)" in str(error)


@responses.activate
def test_youtube_server_error_on_the_second_call(caplog):
    error = youtube_failure(caplog, videos={"status": 500, "body": "Internal Server Error"})
    assert "HTTP 500" in str(error)


@responses.activate
def test_youtube_connection_error_hides_the_key(caplog):
    error = youtube_failure(caplog, search={"body": connection_error_with_url("/youtube/v3/search")})
    assert "could not connect to https://www.googleapis.com/youtube/v3 (ConnectionError)" in str(error)


@responses.activate
def test_youtube_malformed_json(caplog):
    error = youtube_failure(caplog, videos={"body": '{"items": [', "content_type": "application/json"})
    assert "/videos answered with malformed JSON" in str(error)


# --- Google Trends through pytrends -----------------------------------------------------------

ARRIVAL_RELEASE = "2016-11-11"  # US opening day; the window is 2015-10-11 .. 2016-10-11


def serve_trends(explore=None, multiline=None, cookie=None):
    """Answer pytrends' three requests: the NID cookie page, explore (widget tokens), multiline (data)."""
    responses.get(f"{TRENDS}/explore/", **(cookie or {"status": 200, "headers": {"Set-Cookie": "NID=511=test; Path=/"}}))
    responses.post(f"{TRENDS}/api/explore",
                   **(explore or {"body": fixture_text("trends_explore_arrival.txt"), "content_type": JSON_UTF8}))
    responses.get(f"{TRENDS}/api/widgetdata/multiline",
                  **(multiline or {"body": fixture_text("trends_multiline_arrival.txt"), "content_type": JSON_UTF8}))


@pytest.mark.filterwarnings("error")  # pytrends on pandas 3 must not even warn on this path
@responses.activate
def test_trends_weekly_interest_for_arrival():
    serve_trends()
    weekly = TrendsClient().weekly_interest("Arrival", ARRIVAL_RELEASE)
    assert list(weekly.columns) == ["date", "interest"]
    assert str(weekly["date"].dtype) == "datetime64[ns]" and str(weekly["interest"].dtype) == "int64"
    assert len(weekly) == 53
    assert weekly["date"].iloc[0] == pd.Timestamp("2015-10-11") and weekly["date"].iloc[-1] == pd.Timestamp("2016-10-09")
    assert (weekly["date"].dt.day_of_week == 6).all() and (weekly["date"].diff().dropna() == pd.Timedelta(days=7)).all()
    by_week = weekly.set_index("date")["interest"]
    # The first trailer came out in mid-August 2016: the series peaks that week.
    assert by_week[pd.Timestamp("2016-08-14")] == 100 and by_week.idxmax() == pd.Timestamp("2016-08-14")
    assert by_week[pd.Timestamp("2016-08-07")] == 43 and by_week[pd.Timestamp("2016-10-09")] == 27


@responses.activate
def test_trends_asks_for_the_trailer_query_on_youtube_in_the_us():
    serve_trends()
    TrendsClient(hl="en-US", tz=300).weekly_interest("Arrival", ARRIVAL_RELEASE)
    cookie_call, explore_call, multiline_call = responses.calls
    explore = query_of(explore_call)
    assert (explore["hl"], explore["tz"]) == ("en-US", "300")
    assert json.loads(explore["req"]) == {
        "comparisonItem": [{"keyword": "Arrival trailer", "time": "2015-10-11 2016-10-11", "geo": "US"}],
        "category": 0,
        "property": "youtube",
    }
    widget = json.loads(fixture_text("trends_explore_arrival.txt")[5:])["widgets"][0]
    assert query_of(multiline_call)["token"] == widget["token"]
    assert json.loads(query_of(multiline_call)["req"]) == widget["request"]


@pytest.mark.filterwarnings("error")
@responses.activate
def test_trends_partial_last_week_goes_through_pytrends_fillna_path():
    # Google marks the current, unfinished week isPartial; pytrends then runs DataFrame.fillna(False)
    # on a mixed frame, the step most likely to change under pandas 3.
    body = json.loads(fixture_text("trends_multiline_arrival.txt")[6:])
    body["default"]["timelineData"][-1]["isPartial"] = True
    serve_trends(multiline={"body": ")]}',\n" + json.dumps(body), "content_type": JSON_UTF8})
    weekly = TrendsClient().weekly_interest("Arrival", ARRIVAL_RELEASE)
    assert len(weekly) == 53 and weekly["interest"].iloc[-1] == 27


@responses.activate
def test_trends_no_data_points_give_an_empty_frame():
    serve_trends(multiline={"body": fixture_text("trends_multiline_empty.txt"), "content_type": JSON_UTF8})
    weekly = TrendsClient().weekly_interest("A Film Nobody Searched", ARRIVAL_RELEASE)
    assert weekly.empty and list(weekly.columns) == ["date", "interest"]


def trends_failure(**served) -> SourceUnavailableError:
    serve_trends(**served)
    with pytest.raises(SourceUnavailableError) as caught:
        TrendsClient().weekly_interest("Arrival", ARRIVAL_RELEASE)
    error = caught.value
    assert error.source == "Google Trends"
    assert str(error).startswith("Google Trends is unavailable for film 'Arrival': ")
    assert str(error).endswith("To work offline, set buzz.kind to bundled.")
    return error


@responses.activate
def test_trends_rate_limited():
    # Google answers 429 with an HTML page, not JSON.
    error = trends_failure(explore={"status": 429, "body": "<html>Too Many Requests</html>",
                                    "content_type": "text/html; charset=utf-8"})
    assert "HTTP 429 (too many requests)" in str(error)


@responses.activate
def test_trends_server_error_on_the_data_request():
    error = trends_failure(multiline={"status": 500, "body": "<html>Error</html>", "content_type": "text/html"})
    assert "Google answered HTTP 500" in str(error)


@responses.activate
def test_trends_connection_error():
    error = trends_failure(cookie={"body": requests.ConnectionError("Name or service not known")})
    assert "could not connect to trends.google.com (ConnectionError)" in str(error)


@responses.activate
def test_trends_unexpected_body():
    error = trends_failure(explore={"body": ")]}'\n{\"nothing\": []}", "content_type": JSON_UTF8})
    assert "unexpected response (KeyError" in str(error)


@responses.activate
def test_trends_retries_here_because_pytrends_retries_break_on_urllib3_2():
    responses.post(f"{TRENDS}/api/explore", status=429, body="<html>Too Many Requests</html>", content_type="text/html")
    serve_trends()  # after one 429, explore answers normally
    weekly = TrendsClient(retries=2, backoff_seconds=0).weekly_interest("Arrival", ARRIVAL_RELEASE)
    assert len(weekly) == 53
    assert [call.request.url.split("?")[0] for call in responses.calls].count(f"{TRENDS}/api/explore") == 2


@pytest.mark.parametrize(
    ("release", "timeframe"),
    [
        ("2016-11-11", "2015-10-11 2016-10-11"),
        ("2010-07-16", "2009-06-16 2010-06-16"),
        ("2017-03-31", "2016-02-29 2017-02-28"),  # month ends clamp to the shorter month
    ],
)
def test_trends_timeframe_is_13_to_1_months_before_release(release, timeframe):
    assert trends_timeframe(release) == timeframe


@responses.activate
def test_trends_gives_up_after_the_last_retry():
    for _ in range(2):
        responses.post(f"{TRENDS}/api/explore", status=429, body="<html>Too Many Requests</html>", content_type="text/html")
    responses.get(f"{TRENDS}/explore/", status=200)
    with pytest.raises(SourceUnavailableError, match="HTTP 429"):
        TrendsClient(retries=1, backoff_seconds=0).weekly_interest("Arrival", ARRIVAL_RELEASE)
    assert [call.request.method for call in responses.calls].count("POST") == 2
