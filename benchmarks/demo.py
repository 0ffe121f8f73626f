"""Latency of the demo's /forecast endpoint through gradio_client, with concurrent clients.

    python benchmarks/demo.py [--requests 200] [--clients 8] [--repeat 3] [--storage DIR] [--port 7871]

Starts ``cineseq demo`` in its own process on 127.0.0.1 (the clients must not share the server's
interpreter), then sends ``--requests`` forecast requests from ``--clients`` threads, each its own
``gradio_client.Client``, for random films of the materialized panel at random origin weeks
(0 = latest included). Prints p50 / p95 / max latency as the client sees it, the server's time in
the forecast (windows, network, tables) and in the network alone (from the response's timing),
and their shares of the client latency. Each repetition is a fresh round; the table shows every
round and the median. Target on 2 cores: p95 at most 150 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of --requests (median reported)")
    parser.add_argument("--storage", type=Path, default=None, help="storage folder (default: the project's)")
    parser.add_argument("--port", type=int, default=7871)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def _start_server(port: int, storage: Path | None) -> subprocess.Popen:
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    if storage is not None:
        env["CINESEQ_STORAGE"] = str(storage)
    server = subprocess.Popen([sys.executable, "-m", "cineseq_assets.cli", "demo", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the demo did not start: {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the demo did not answer within 120 s")


def _requests(storage: Path | None, count: int, seed: int) -> list[tuple[str, int]]:
    from cineseq_assets.settings import storage_dir
    from cineseq_assets.storage import read_asset

    panel = read_asset("panel", root=storage or storage_dir())
    runs = panel.groupby("film_id")["week"].max()
    rng = random.Random(seed)
    films = rng.choices(list(runs.index), k=count)
    return [(film, rng.choice([0, rng.randint(1, int(runs[film]))])) for film in films]


def _round(url: str, requests: list[tuple[str, int]], clients: int) -> pd.DataFrame:
    from gradio_client import Client

    connections = [Client(url, verbose=False) for _ in range(clients)]
    shares = [requests[i::clients] for i in range(clients)]

    def run(index: int) -> list[dict]:
        rows = []
        for film, origin in shares[index]:
            started = time.perf_counter()
            result = connections[index].predict(film, origin, api_name="/forecast")
            rows.append({"latency_ms": 1000 * (time.perf_counter() - started), **result["timing_ms"]})
        return rows

    with ThreadPoolExecutor(clients) as pool:
        return pd.DataFrame([row for rows in pool.map(run, range(clients)) for row in rows])


def main() -> None:
    args = _arguments()
    requests = _requests(args.storage, args.requests, args.seed)
    server = _start_server(args.port, args.storage)
    url = f"http://127.0.0.1:{args.port}/"
    try:
        _round(url, requests[: 2 * args.clients], args.clients)  # warm-up: model loaded, connections open
        rounds = []
        for index in range(args.repeat):
            frame = _round(url, requests, args.clients)
            latency = frame["latency_ms"]
            rounds.append({
                "round": index + 1, "requests": len(frame),
                "p50 ms": latency.quantile(0.5), "p95 ms": latency.quantile(0.95), "max ms": latency.max(),
                "server forecast ms (mean)": frame["forecast"].mean(), "network ms (mean)": frame["model"].mean(),
                "forecast share": frame["forecast"].sum() / latency.sum(),
                "network share": frame["model"].sum() / latency.sum(),
            })
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    table = pd.DataFrame(rounds)
    median = table.drop(columns="round").median().to_dict()
    table = pd.concat([table, pd.DataFrame([{"round": "median", **median}])], ignore_index=True)
    print(f"/forecast through gradio_client: {args.requests} requests x {args.repeat} rounds, "
          f"{args.clients} concurrent clients, {os.cpu_count()} CPU cores; target p95 <= 150 ms")
    print(table.to_markdown(index=False, floatfmt=".3g"))
    print(f"\nmedian p95 {statistics.median(r['p95 ms'] for r in rounds):.0f} ms "
          f"({'meets' if np.median([r['p95 ms'] for r in rounds]) <= 150 else 'misses'} the 150 ms target)")


if __name__ == "__main__":
    main()
