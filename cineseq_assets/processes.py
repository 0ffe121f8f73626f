"""Which process is which, across restarts: identities that survive pid reuse (standard library only);
and how many cores and threads a process may use.

A process's identity is ``<host>:<pid>:<start>``, its start time in clock ticks since boot as
``/proc/<pid>/stat`` gives it, so a pid reused by a later process is not mistaken for the one that
wrote a run or a temporary file. Where ``/proc`` does not exist (macOS), the start is left out and
the identity is the pid alone.
"""

from __future__ import annotations

import os
import socket


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
