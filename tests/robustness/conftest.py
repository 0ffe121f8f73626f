"""Fixtures of the robustness suite: one worker process that runs many bad inputs and reports each
one's peak memory (worker.py), the command's own exit code and peak memory for the rows that need a
fresh process, and a tiny forecaster saved as ``cineseq forecast --model`` reads it."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("worker.py")
REPO = Path(__file__).resolve().parents[2]


class Worker:
    """The worker process: ``ask(request)`` sends one request and returns its answer (with ``peak_rss_mb``)."""

    def __init__(self, env: dict, cwd: Path):
        self.process = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, env=env, cwd=cwd)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.process.stdout, selectors.EVENT_READ)
        assert self._read(600).get("ready"), "the robustness worker did not start"

    def ask(self, request: dict, timeout: float = 300) -> dict:
        assert self.process.poll() is None, "the robustness worker has ended (killed by its memory watchdog?)"
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read(timeout)

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while not self.selector.select(max(0.0, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                self.close()
                pytest.fail(f"the robustness worker gave no answer within {timeout} s")
        line = self.process.stdout.readline()
        if not line:
            pytest.fail("the robustness worker ended without an answer")
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def robustness_env(tmp_path_factory) -> dict:
    """The environment of every child: an empty storage of its own (so no materialized model is found)."""
    home = tmp_path_factory.mktemp("robustness_home")
    (home / "dagster_home").mkdir()
    return {**os.environ, "CINESEQ_STORAGE": str(home / "storage"), "DAGSTER_HOME": str(home / "dagster_home"),
            "CINESEQ_TORCH_THREADS": "1", "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.fixture(scope="module")
def worker(robustness_env, tmp_path_factory):
    started = Worker(robustness_env, tmp_path_factory.mktemp("worker_cwd"))
    yield started
    started.close()


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    peak_rss_mb: float
    seconds: float


# A child's ru_maxrss counts the memory of the process it was forked from (Linux keeps the old address
# space's peak across exec, and subprocess forks the whole test process): the command is started by this
# small launcher instead, whose own few MB are all its child inherits. It writes the child's peak RSS (kB).
LAUNCHER = ("import os, subprocess, sys; child = subprocess.Popen(sys.argv[2:]); _, status, usage = os.wait4(child.pid, 0); "
            "open(sys.argv[1], 'w').write(str(usage.ru_maxrss)); sys.exit(os.waitstatus_to_exitcode(status))")


@pytest.fixture(scope="session")
def run_command(robustness_env):
    """Run a command in a fresh process: its exit code and its own peak RSS (``wait4`` in LAUNCHER), not the suite's."""

    def run(argv: list[str], cwd: Path, timeout: float = 300) -> Finished:
        out, err, peak = cwd / ".stdout", cwd / ".stderr", cwd / ".peak_rss_kb"
        started = time.perf_counter()
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(peak), *argv], stdout=stdout, stderr=stderr,
                                       env=robustness_env, cwd=cwd, start_new_session=True)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                pytest.fail(f"{argv[:3]} ran past {timeout} s")
        return Finished(process.returncode, out.read_text(), err.read_text(), int(peak.read_text()) / 1024,
                        time.perf_counter() - started)

    return run


@pytest.fixture(scope="session")
def cineseq_command() -> str:
    import shutil

    command = shutil.which("cineseq", path=str(Path(sys.executable).parent)) or shutil.which("cineseq")
    assert command, "the cineseq command is not installed in this environment (pip install -e .)"
    return command


@pytest.fixture(scope="session")
def weights_path(save_tiny_model, tmp_path_factory) -> Path:
    """The tiny seq2seq of the shared conftest, saved as the forecast_model asset saves it."""
    return save_tiny_model(tmp_path_factory.mktemp("robustness_weights"))
