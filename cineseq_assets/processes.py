"""Which process is which, across restarts: identities that survive pid reuse (standard library only);
how many cores and threads a process may use, and the onnxruntime CPU sessions that keep to them.

A process's identity is ``<host>:<pid>:<start>``, its start time in clock ticks since boot as
``/proc/<pid>/stat`` gives it, so a pid reused by a later process is not mistaken for the one that
wrote a run or a temporary file. Where ``/proc`` does not exist (macOS), the start is left out and
the identity is the pid alone.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the name (state first, start time at index 19); None without
    /proc; raises ProcessLookupError when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            stat = file.read()
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            raise ProcessLookupError(pid) from None
        return None
    return stat.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces


def identity(pid: int | None = None) -> str:
    """``<host>:<pid>:<start>`` of ``pid`` (default: this process)."""
    pid = os.getpid() if pid is None else pid
    fields = _stat(pid)
    return f"{socket.gethostname()}:{pid}:{fields[19] if fields else ''}"


def running(pid: int) -> bool:
    """Whether a process ``pid`` runs (someone else's counts). A zombie does not: a killed process whose
    parent died too may stay one for good where nothing reaps orphans (pid 1 of a container)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        fields = _stat(pid)
    except ProcessLookupError:
        return False
    return fields is None or fields[0] != "Z"


def still_running(process: str) -> bool | None:
    """Whether the process of an ``identity`` still runs; None when it ran on another host (unknown here)."""
    host, pid, start = process.rsplit(":", 2)
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if not running(int(pid)):
        return False
    try:
        fields = _stat(int(pid))
    except ProcessLookupError:
        return False
    return not start or fields is None or fields[19] == start


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity mask where the OS has one, else os.cpu_count()."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def available_threads() -> int:
    """Threads a library may start here (onnxruntime sessions): the cores, at most ``OMP_NUM_THREADS``
    when it is set. Dask's nanny sets it to 1 in each worker process, so that two single-threaded workers
    on two cores do not run four inference threads between them."""
    budget = os.environ.get("OMP_NUM_THREADS", "").strip()
    return min(available_cores(), int(budget)) if budget.isdigit() and int(budget) > 0 else available_cores()


@contextmanager
def threads_limited(threads: int) -> Iterator[None]:
    """At most ``threads`` threads for the work done in the block by the calling thread: torch's intra-op
    threads (kept per calling thread), OpenCV's pool, and the onnxruntime sessions and worker pools made
    meanwhile (``available_threads`` reads OMP_NUM_THREADS); all as they were afterwards. For a stage
    that runs here while another runs in a process of its own (runner.py)."""
    import cv2  # imported here: heavy, and only the callers that limit threads need them
    import torch

    saved = torch.get_num_threads(), cv2.getNumThreads()
    with environment_kept(["OMP_NUM_THREADS"]):
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        try:
            yield
        finally:
            torch.set_num_threads(saved[0])
            cv2.setNumThreads(saved[1])


@contextmanager
def environment_kept(keys: Iterable[str]) -> Iterator[None]:
    """This process's environment variables ``keys`` as they were before the block, whatever it set
    (a variable that was not set is removed again)."""
    saved = {key: os.environ.get(key) for key in keys}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def onnx_cpu_session(model, threads: int | None = None, *, spin_wait: bool = False, quiet: bool = False):
    """An onnxruntime CPU session (`model`: a path, or the serialized bytes) with at most `threads`
    intra-op threads, never more than ``available_threads()`` (default: that many).

    onnxruntime's pool threads busy-wait between runs by default. On a 2-core machine shared with
    video decoding, other frames or other partitions, that spinning steals the cores the others
    need: measured under load, a SCRFD run took ~190 ms without spinning and ~285 ms with it; on an
    idle machine the two were within noise. `spin_wait=True` restores onnxruntime's default.
    `quiet` keeps only errors in onnxruntime's log (shape-inference notes are not for the user).
    """
    import onnxruntime  # heavy import: only when a session is built

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, min(threads or available_threads(), available_threads()))
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin_wait else "0")
    if quiet:
        options.log_severity_level = 3
    model = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
