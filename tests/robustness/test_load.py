"""Load on the real demo (`cineseq demo` in its own process on 127.0.0.1): 300 /forecast calls from 16
concurrent clients and 50 /new_film calls, with no error, the server's memory back near where it started
and no temporary folder left behind."""

from __future__ import annotations

import gc
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from served_demo import DemoProcess, rss_mb, write_served_storage

from cineseq_assets.forecast.serving import FilmService

CLIENTS = 16
FORECASTS = 300
NEW_FILMS = 50
MEMORY_SLACK = 0.20  # the server's RSS after the load, over its RSS before it
NEW_FILM_FOLDERS = "cineseq-newfilm-*"
WEEKS = [{"week": 1, "gross": 31_570_799, "theaters": 2317}, {"week": 2, "gross": 19_536_764, "theaters": 2442},
         {"week": 3, "gross": 14_670_951, "theaters": 2442}]


@pytest.fixture(scope="module")
def demo(tmp_path_factory, forecast_panel, tiny_models, tiny_final_totals):
    root = tmp_path_factory.mktemp("load")
    storage = write_served_storage(root / "storage", forecast_panel, tiny_models, tiny_final_totals)
    server = DemoProcess.start(storage, root / "server_tmp")
    yield server, storage
    server.stop()


def _settled_rss(pid: int, seconds: float = 5) -> float:
    """The server's RSS once it has been idle a moment (the lowest of a few readings)."""
    readings = []
    for _ in range(int(seconds / 0.5)):
        readings.append(rss_mb(pid))
        time.sleep(0.5)
    return min(readings)


def test_300_forecasts_from_16_clients_and_50_new_films_without_error_or_growth(demo):
    server, storage = demo
    films = FilmService(storage).catalog()["film_id"].tolist()
    temp = server.log.parent / "server_tmp"

    def forecast(client, call: int) -> dict:
        return client.predict(films[call % len(films)], call % 3, api_name="/forecast")

    def new_film(client, call: int) -> dict:
        weeks = [dict(week, gross=week["gross"] * (1 + call / 100)) for week in WEEKS]
        return client.predict(weeks, "2016-11-11", f"Load test film {call}", ["Drama"], None, "", api_name="/new_film")

    def one_client(number: int) -> tuple[list[dict], list[str]]:
        """Client ``number``'s share of the calls, one after the other, as one user's script would make them."""
        client, answers, errors = server.client(), [], []
        calls = [(forecast, call) for call in range(number, FORECASTS, CLIENTS)]
        calls += [(new_film, call) for call in range(number, NEW_FILMS, CLIENTS)]
        for endpoint, call in calls:
            try:
                answers.append(endpoint(client, call))
            except Exception as error:  # counted, not raised: the test reports every failure at once
                errors.append(f"{endpoint.__name__} {call}: {type(error).__name__}: {error}")
        return answers, errors

    warm = server.client()
    for call in range(3):  # warm up: the model, the panel's windows and the metadata tables load once
        forecast(warm, call)
        new_film(warm, call)
    gc.collect()
    before = _settled_rss(server.process.pid)

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        shares = list(pool.map(one_client, range(CLIENTS)))
    seconds = time.perf_counter() - started
    answers = [answer for share, _ in shares for answer in share]
    errors = [error for _, share in shares for error in share]
    assert not errors, f"{len(errors)} of {FORECASTS + NEW_FILMS} calls failed, e.g. {errors[:3]}"
    assert len(answers) == FORECASTS + NEW_FILMS and all(len(answer["rows"]) == 4 for answer in answers)

    after = _settled_rss(server.process.pid)
    print(f"\n{FORECASTS + NEW_FILMS} calls from {CLIENTS} clients in {seconds:.1f} s; "
          f"server RSS {before:.0f} MB before, {after:.0f} MB after")
    assert after <= before * (1 + MEMORY_SLACK), f"server RSS grew from {before:.0f} MB to {after:.0f} MB"
    assert not list(temp.glob(NEW_FILM_FOLDERS)), "a /new_film call left its temporary folder"
    assert server.process.poll() is None
