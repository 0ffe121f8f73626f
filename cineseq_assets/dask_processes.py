"""An existing-scheduler Dask cluster on this machine, as separate processes: ``dask scheduler`` and
``dask worker`` started the way an operator starts them on a cluster's machines, listening on
127.0.0.1 only (random ports, no dashboard).

The tests (tests/test_dask_engine.py) and benchmarks/scale.py use it to run per-film work through
``DaskResource(scheduler=address)`` exactly as on a real cluster. Each process is owned by its
process id and stopped by it; if the owner dies without stopping them, the workers leave once the
scheduler is gone (``--death-timeout``) and the scheduler once it has been idle (``--idle-timeout``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT_S = 300  # worker processes import pandas and friends: slow on a busy 2-core machine


class ClusterStartError(RuntimeError):
    """The scheduler or a worker did not come up in time; the message holds its log."""


def start_dask_process(args: list[str], log: Path, pythonpath: str | None = None) -> subprocess.Popen:
    """``python -m dask <args>`` in a session of its own, its output in ``log``; ``pythonpath`` is put in
    front of PYTHONPATH so that the workers import the same package as the caller."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, os.environ.get("PYTHONPATH")]))
    with open(log, "wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


class ProcessCluster:
    """A scheduler and ``workers`` single-threaded worker processes (no nanny: a killed worker stays
    dead, as a lost machine does), each by its process id; their logs go to ``folder``."""

    def __init__(self, folder: Path, workers: int = 2, pythonpath: str | None = None,
                 start_timeout_s: float = START_TIMEOUT_S):
        self.folder, self.pythonpath = folder, pythonpath
        scheduler_file = folder / "scheduler.json"
        self.scheduler = start_dask_process(
            ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file),
             "--idle-timeout", "900s"], folder / "scheduler.log", pythonpath)
        deadline = time.monotonic() + start_timeout_s
        try:
            while not scheduler_file.exists():
                if self.scheduler.poll() is not None or time.monotonic() > deadline:
                    raise ClusterStartError(f"dask scheduler did not start:\n{(folder / 'scheduler.log').read_text()}")
                time.sleep(0.2)
            self.address = json.loads(scheduler_file.read_text())["address"]
            self.workers = [self.start_worker(f"w{i}") for i in range(workers)]
            self.wait_for_workers(workers, deadline)
        except BaseException:
            self.workers = getattr(self, "workers", [])
            self.stop()
            raise

    def start_worker(self, name: str) -> subprocess.Popen:
        """One more worker process (not added to ``workers``: the caller decides where it goes)."""
        return start_dask_process(["worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                                   "--no-dashboard", "--death-timeout", "60", "--name", name],
                                  self.folder / f"worker_{name}.log", self.pythonpath)

    def wait_for_workers(self, count: int, deadline: float) -> None:
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(count, timeout=max(1, deadline - time.monotonic()))

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> process id, as the workers report them."""
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            return client.run(os.getpid)

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)

    def __enter__(self) -> "ProcessCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
