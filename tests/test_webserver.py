"""The Dagster webserver started on 127.0.0.1 answers GraphQL about the assets and their partitions,
on the Dagster home that `cineseq run` prepares (its dagster.yaml and pooled event log)."""

import os
import socket
import subprocess
import sys
import time

import dagster as dg
import pytest
import requests

from cineseq_assets.dagster_instance import prepare_dagster_home
from cineseq_assets.partitions import films_partitions

ASSETS_QUERY = """
{ assetNodes { assetKey { path } isPartitioned partitionKeysByDimension { name partitionKeys } } }
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def webserver(isolated_project):
    (isolated_project / "dagster_home" / "dagster.yaml").unlink()
    prepare_dagster_home()
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(films_partitions.name, ["rl2908456449", "rl3059975681"])
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port), "-m", "cineseq_assets.definitions"],
        env={**os.environ, "DAGSTER_HOME": os.environ["DAGSTER_HOME"]},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/server_info", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        assert process.poll() is None, process.stdout.read().decode()[-3000:]
        time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("the webserver did not answer within 120 s")
    yield url
    process.terminate()
    assert process.wait(timeout=30) is not None


def test_graphql_lists_the_assets_and_the_film_partitions(webserver):
    reply = requests.post(f"{webserver}/graphql", json={"query": ASSETS_QUERY}, timeout=60)
    reply.raise_for_status()
    nodes = {"/".join(n["assetKey"]["path"]): n for n in reply.json()["data"]["assetNodes"]}
    assert {"film_catalog", "weekly_panel", "decay_fit", "panel", "decay_diagnostics", "mojo_daily_chart"} <= set(nodes)
    films = nodes["weekly_panel"]["partitionKeysByDimension"][0]["partitionKeys"]
    assert films == ["rl2908456449", "rl3059975681"]
    assert nodes["panel"]["isPartitioned"] is False
