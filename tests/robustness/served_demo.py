"""What the fault and load tests share: a storage folder as `cineseq run` leaves it, `cineseq demo` in its own
process on 127.0.0.1, and a process's resident memory and descendants read from /proc.

Imported by the test files beside it (not a conftest: the fixtures that use it live in those files).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd

from cineseq_assets.forecast.onnx_export import export_onnx
from cineseq_assets.forecast.store import model_folder, save_model
from cineseq_assets.storage import asset_path, write_parquet_atomic

SERVING = "seq2seq_attention"  # the model published first: the "old" one that must keep serving
NEW = "seq2seq"  # the "new" one, written and published over it
CLIENT_TIMEOUT_SECONDS = 180  # per call: the load test measures errors and memory, not latency


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_served_storage(root: Path, panel: pd.DataFrame, models: dict, finals: dict) -> Path:
    """The panel, the catalog and both forecasters (weights, booster, ONNX), SERVING published: the
    files `cineseq run` writes for the demo, written by the same functions."""
    write_parquet_atomic(panel, asset_path("panel", root=root))
    films = panel.groupby("film_id", sort=False).agg(title=("title", "first")).reset_index()
    films["showcase"] = films.index < 3
    write_parquet_atomic(films, asset_path("film_catalog", root=root))
    folder = model_folder(root)
    for architecture, (trained, _) in models.items():
        best = min(trained.history, key=lambda h: h["validation_wape"])
        metrics = {"validation_wape": best["validation_wape"], "best_epoch": best["epoch"],
                   "epochs": len(trained.history), "seconds": trained.seconds}
        export_onnx(trained, save_model(trained, folder.file(architecture), metrics, finals[architecture]).with_suffix(".onnx"))
    folder.publish(SERVING, chosen_by="test")
    return root


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children of all its threads, recursively), from /proc."""
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                kids = {int(kid) for kid in children.read_text().split()}
            except (FileNotFoundError, ProcessLookupError):
                continue
            todo.extend(kids - found)
            found |= kids
    return found


def alive(pids: set[int]) -> set[int]:
    """The pids of ``pids`` that still run (zombies count as gone: they hold no memory and run nothing)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state != "Z":
            running.add(pid)
    return running


@dataclass
class DemoProcess:
    """`cineseq demo` serving ``storage`` on 127.0.0.1:``port``, in its own process."""

    process: subprocess.Popen
    port: int
    log: Path  # its stderr (a file: a pipe nobody reads would fill and stall the server)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @classmethod
    def start(cls, storage: Path, temp_dir: Path, seconds: float = 120) -> "DemoProcess":
        """Started with ``temp_dir`` as its TMPDIR (so that what it leaves in temp is countable); returns
        once the page answers. A port taken between our probe and the server's bind is tried again."""
        for _ in range(3):
            demo = cls._launch(storage, temp_dir, free_port())
            if demo._wait_until_served(seconds):
                return demo
        raise AssertionError(f"the demo found no free port: {demo.log.read_text()[-3000:]}")

    @classmethod
    def _launch(cls, storage: Path, temp_dir: Path, port: int) -> "DemoProcess":
        temp_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, CINESEQ_STORAGE=str(storage), TMPDIR=str(temp_dir), GRADIO_ANALYTICS_ENABLED="False",
                   HF_HUB_OFFLINE="1", CINESEQ_TORCH_THREADS="1")
        log = temp_dir.parent / f"demo-{port}.log"
        with log.open("w") as stderr:
            process = subprocess.Popen([sys.executable, "-m", "cineseq_assets.cli", "demo", "--port", str(port)], env=env,
                                       stdout=subprocess.DEVNULL, stderr=stderr)
        return cls(process, port, log)

    def _wait_until_served(self, seconds: float) -> bool:
        """True once the page answers; False when the port was taken; fails on any other exit or a timeout."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.process.poll() is not None:
                if "Cannot find empty port" in self.log.read_text():
                    return False
                raise AssertionError(f"the demo exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url, timeout=2).status_code == 200:
                    return True
            except httpx.HTTPError:
                time.sleep(0.3)
        self.stop()
        raise AssertionError(f"the demo did not answer on {self.url} within {seconds} s")

    def client(self):
        from gradio_client import Client

        # gradio_client waits 20 s for an answer by default; 16 clients on a 2-core machine that is also busy
        # can wait longer in the queue, which is patience, not an error of the server under test.
        return Client(self.url, verbose=False, httpx_kwargs={"timeout": CLIENT_TIMEOUT_SECONDS})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
