"""Latency of the demo's forecasts under concurrent clients: the JSON API, the Gradio endpoint, and the
floor of an empty Gradio endpoint, in one run.

    python benchmarks/demo.py [--requests 200] [--clients 8] [--repeat 3] [--storage DIR] [--port 7871]

Starts ``cineseq demo`` in its own process on 127.0.0.1 (the clients must not share the server's
interpreter), and an *empty* Gradio endpoint with the demo's ``/forecast`` signature and queue settings in
another (it returns a constant four-row table: what Gradio and gradio_client cost before any forecasting).
Each round sends ``--requests`` forecasts of random films of the materialized panel at random origin weeks
(0 = latest included) from ``--clients`` threads, to each route in turn:

- the JSON API, ``GET /api/v1/films/{film}/forecast?origin=N``: each thread its own ``httpx.Client``
  (one keep-alive connection, as a program would hold it);
- the Gradio ``/forecast`` endpoint: each thread its own ``gradio_client.Client``, as a new user would;
- the empty Gradio endpoint, the same way.

Prints one table, the median of ``--repeat`` rounds of each route: p50 / p95 / max latency as the client
sees it, requests per second, the server's mean time in the forecast (from the answer's timing), and the
CPU time of the server and of the clients per request, with the targets on 2 cores: the JSON API at
p95 <= 40 ms and >= 150 requests/s, the Gradio route at p95 no worse than twice the empty endpoint's.
"""

from __future__ import annotations

import argparse
import os
import random
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

API_P95_MS = 40
API_REQUESTS_PER_S = 150
GRADIO_OVER_FLOOR = 2  # the Gradio route's p95 at most this many times the empty endpoint's


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of --requests per route (median reported)")
    parser.add_argument("--storage", type=Path, default=None, help="storage folder (default: the project's)")
    parser.add_argument("--port", type=int, default=7871, help="the demo's port; the empty endpoint's is the next one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--serve-empty", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return parser.parse_args()


# ------------------------------------------------------------------------------------ servers

def _serve_empty(port: int) -> None:
    """An empty /forecast endpoint with the demo's signature and queue settings (the floor)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    import gradio as gr

    rows = [{"week": week, "p10": 1.0, "p50": 2.0, "p90": 3.0, "actual": None} for week in range(1, 5)]

    def forecast(film: str, origin_week: float | None = 0) -> dict:
        return {"film_id": film, "rows": rows, "timing_ms": {"model": 0.0, "forecast": 0.0}}

    with gr.Blocks() as app:
        gr.api(forecast, api_name="forecast", concurrency_limit=2)
    app.queue(default_concurrency_limit=2).launch(server_name="127.0.0.1", server_port=port, quiet=True)


def _start_server(port: int, storage: Path | None, empty: bool = False) -> subprocess.Popen:
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    if storage is not None:
        env["CINESEQ_STORAGE"] = str(storage)
    command = ([sys.executable, __file__, "--serve-empty", str(port)] if empty else
               [sys.executable, "-m", "cineseq_assets.cli", "demo", "--port", str(port)])
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server on port {port} did not start: {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    os.killpg(server.pid, 9)
    raise SystemExit(f"the server on port {port} did not answer within 120 s")


def _stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, 15)
    server.wait(timeout=30)


# ------------------------------------------------------------------------------------ rounds

def _requests(storage: Path | None, count: int, seed: int) -> list[tuple[str, int]]:
    from cineseq_assets.settings import storage_dir
    from cineseq_assets.storage import read_asset

    panel = read_asset("panel", root=storage or storage_dir())
    runs = panel.groupby("film_id")["week"].max()
    rng = random.Random(seed)
    films = rng.choices(list(runs.index), k=count)
    return [(film, rng.choice([0, rng.randint(1, int(runs[film]))])) for film in films]


def _api_round(url: str, requests: list[tuple[str, int]], clients: int) -> pd.DataFrame:
    connections = [httpx.Client(base_url=url, timeout=60) for _ in range(clients)]

    def ask(index: int, film: str, origin: int) -> dict:
        response = connections[index].get(f"api/v1/films/{film}/forecast", params={"origin": origin})
        response.raise_for_status()
        return response.json()

    try:
        return _timed(ask, requests, clients)
    finally:
        for connection in connections:
            connection.close()


def _gradio_round(url: str, requests: list[tuple[str, int]], clients: int) -> pd.DataFrame:
    from gradio_client import Client

    # gradio_client opens a new httpx client for every request, and each builds a TLS context by
    # loading the CA bundle (~45 ms of CPU, even for plain http): two per request, which made the
    # clients, not the server, the bottleneck on 2 cores. One context, built once, is passed instead.
    tls = ssl.create_default_context()
    connections = [Client(url, verbose=False, ssl_verify=tls) for _ in range(clients)]

    def ask(index: int, film: str, origin: int) -> dict:
        return connections[index].predict(film, origin, api_name="/forecast")

    return _timed(ask, requests, clients)


def _timed(ask: Callable[[int, str, int], dict], requests: list[tuple[str, int]], clients: int) -> pd.DataFrame:
    """``ask(client, film, origin)`` for every request, ``clients`` threads at a time: latency and server timing."""
    shares = [requests[i::clients] for i in range(clients)]

    def run(index: int) -> list[dict]:
        rows = []
        for film, origin in shares[index]:
            started = time.perf_counter()
            answer = ask(index, film, origin)
            rows.append({"latency_ms": 1000 * (time.perf_counter() - started), **answer["timing_ms"]})
        return rows

    with ThreadPoolExecutor(clients) as pool:
        return pd.DataFrame([row for rows in pool.map(run, range(clients)) for row in rows])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _measured(round_: Callable[[list], pd.DataFrame], requests: list[tuple[str, int]], server_pid: int) -> dict:
    server_cpu, client_cpu, started = _cpu_seconds(server_pid), time.process_time(), time.perf_counter()
    frame = round_(requests)
    wall = time.perf_counter() - started
    server_cpu, client_cpu = _cpu_seconds(server_pid) - server_cpu, time.process_time() - client_cpu
    latency = frame["latency_ms"]
    return {"p50 ms": latency.quantile(0.5), "p95 ms": latency.quantile(0.95), "max ms": latency.max(),
            "requests/s": len(frame) / wall, "server forecast ms (mean)": frame["forecast"].mean(),
            "server CPU ms/request": 1000 * server_cpu / len(frame), "client CPU ms/request": 1000 * client_cpu / len(frame)}


# ------------------------------------------------------------------------------------ the table

def _verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """The targets beside the medians, and whether each is met."""
    api, gradio, empty = (table.loc[route] for route in table.index)
    floor = GRADIO_OVER_FLOOR * empty["p95 ms"]
    table["target"] = [f"p95 <= {API_P95_MS} ms, >= {API_REQUESTS_PER_S} requests/s",
                       f"p95 <= {GRADIO_OVER_FLOOR} x the floor's ({floor:.0f} ms)", "the floor"]
    table["met"] = ["yes" if api["p95 ms"] <= API_P95_MS and api["requests/s"] >= API_REQUESTS_PER_S else "no",
                    "yes" if gradio["p95 ms"] <= floor else "no", ""]
    return table


def main() -> None:
    args = _arguments()
    if args.serve_empty:
        _serve_empty(args.serve_empty)
        return
    requests = _requests(args.storage, args.requests, args.seed)
    demo, empty = _start_server(args.port, args.storage), _start_server(args.port + 1, None, empty=True)
    demo_url, empty_url = f"http://127.0.0.1:{args.port}/", f"http://127.0.0.1:{args.port + 1}/"
    routes = {
        "JSON API GET /api/v1/films/{film}/forecast": (lambda share: _api_round(demo_url, share, args.clients), demo.pid),
        "Gradio /forecast (gradio_client)": (lambda share: _gradio_round(demo_url, share, args.clients), demo.pid),
        "empty Gradio endpoint (gradio_client)": (lambda share: _gradio_round(empty_url, share, args.clients), empty.pid),
    }
    rounds: dict[str, list[dict]] = {route: [] for route in routes}
    try:
        for round_, _ in routes.values():  # warm-up: models and windows loaded, connections open
            round_(requests[: 2 * args.clients])
        for _ in range(args.repeat):  # routes in turn, so that a busy moment of the machine is shared out
            for route, (round_, pid) in routes.items():
                rounds[route].append(_measured(round_, requests, pid))
    finally:
        _stop(demo)
        _stop(empty)
    table = _verdicts(pd.DataFrame({route: pd.DataFrame(found).median() for route, found in rounds.items()}).T)
    print(f"{args.requests} forecasts of random films and origins per round, {args.clients} concurrent clients, "
          f"median of {args.repeat} rounds per route, {os.cpu_count()} CPU cores")
    print(table.rename_axis("route").reset_index().to_markdown(index=False, floatfmt=".3g"))
    for route, found in rounds.items():
        p95 = ", ".join(f"{entry['p95 ms']:.0f}" for entry in found)
        print(f"{route}: p95 per round {p95} ms")


if __name__ == "__main__":
    main()
