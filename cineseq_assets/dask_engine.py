"""Per-film work on a Dask ``distributed`` cluster: where it runs, how it fans out, how it reports.

A per-film asset materializes many films in one run (a single-run backfill over a film range). Its
body calls ``fan_out``: one Dask task per film (or per small batch), retried by Dask, results gathered
as they complete and handed back to the asset, which writes them through its IO manager (the storage
keeps one owner: workers compute, they never write). A film whose task still fails after its retries
is reported with the error and the worker; the other films are unaffected.

Where it runs (``open_client``): an existing scheduler by address (``tcp://host:8786``, a cluster from
dask-jobqueue or dask-kubernetes), or else a ``LocalCluster`` owned by this process, one worker process
per core with one thread each. Its worker processes exit with their parent, even when the parent is
killed (distributed's nanny watches a pipe to it). ``workers=0`` runs the same tasks in this process,
one after the other (no cluster: for debugging, and as the reference the cluster's results are compared with).

Inputs that workers read (trailer videos, model files, thumbnails) must be at the same path on every
worker: on a LocalCluster that is this machine; on a cluster of several machines, a shared filesystem
mounted at the same place (and the same ``CINESEQ_MODEL_DIR``). ``require_input`` fails a film with a
message naming the worker and the missing file.

This module does not import Dagster: the asset side (partitions.py) turns its results into partitions.
"""

from __future__ import annotations

import importlib.util
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CineSeqError
from .processes import available_cores, environment_kept

SCHEDULER_ENV = "CINESEQ_DASK_SCHEDULER"
WORKERS_ENV = "CINESEQ_DASK_WORKERS"
RETRIES = 2  # a task is retried this often when it raises (a film whose data are wrong is not: see run_batch)
REPORT_EVERY_S = 10.0

Log = Callable[[str], None]


class FilmTaskError(Exception):
    """A film's task raised something other than a CineSeqError; the message names the film and the worker.
    (One plain message argument, so that it survives pickling back from the worker.)"""


class MissingInputError(CineSeqError):
    """A file a worker needs is not there (see the module docstring for the rule)."""


def default_workers() -> int:
    """One worker process per core of this machine."""
    return available_cores()


def dashboard_available() -> bool:
    """Dask's dashboard needs bokeh, which is not a dependency of CineSeq."""
    return importlib.util.find_spec("bokeh") is not None


# Dask's nanny starts each worker with MALLOC_TRIM_THRESHOLD_=65536, so that glibc hands freed memory
# back to the system sooner. The per-film work allocates and frees many arrays of about that size, and
# each free then returned pages that the next allocation faulted in again: Integrated Gradients of 250
# films took 9.4 s of CPU in such a worker against 4.3 s with glibc's default (which this unsets, for the
# workers of the local cluster; `dask worker` processes started by hand: see the README).
WORKER_ENVIRONMENT = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


@contextmanager
def open_client(scheduler: str | None = None, workers: int | None = None, log: Log = print) -> Iterator[object | None]:
    """A ``distributed.Client`` for the duration of the block: on ``scheduler`` when given, else on a
    LocalCluster of ``workers`` processes (default: one per core) listening on 127.0.0.1 only, closed at
    the end. ``workers=0`` yields None: the tasks run in this process."""
    if not scheduler and workers == 0:
        log("dask: no cluster, films computed in this process one after the other")
        yield None
        return
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            log(f"dask: scheduler {scheduler}, {len(client.scheduler_info()['workers'])} workers; {dashboard_line(client)}")
            yield client
        return
    count = workers or default_workers()
    dashboard = ":0" if dashboard_available() else None  # a free port when the dashboard can run at all
    with _own_environment_kept(), dask.config.set(WORKER_ENVIRONMENT):
        cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=dashboard)
    with cluster, Client(cluster) as client:
        log(f"dask: local cluster {cluster.scheduler_address}, {count} worker processes x 1 thread; {dashboard_line(client)}")
        yield client


@contextmanager
def _own_environment_kept() -> Iterator[None]:
    """Dask's nanny writes ``distributed.nanny.pre-spawn-environ`` (OMP_NUM_THREADS=1, ...) into the
    environment of the process that owns it, so that the worker processes it spawns start with it. Left
    there, this process would budget one thread for its own work for the rest of the command
    (processes.available_threads): the student's face detection, the frame classifier's sessions. The
    workers keep Dask's settings; this process gets its own back once they have started."""
    import dask

    with environment_kept(dask.config.get("distributed.nanny.pre-spawn-environ", {})):
        yield


def dashboard_line(client) -> str:
    link = client.dashboard_link if dashboard_available() else None
    try:
        served = link and client.scheduler_info().get("services", {}).get("dashboard")
    except Exception:  # noqa: BLE001 - an old or foreign scheduler: say what is known
        served = link
    return f"dashboard {link}" if served else "dashboard off (install bokeh to see Dask's dashboard)"


def worker_name() -> str:
    """The Dask worker this code runs on (its address), or ``this process`` outside a worker."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "this process"


def require_input(path: str | Path, film_id: str, what: str) -> Path:
    """``path`` as a Path when this worker can read it; else the film fails naming the worker and the file."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError(
            f"film {film_id!r}: worker {worker_name()} cannot read {what} {path}. Files that workers read must be at "
            "the same path on every worker (a shared filesystem mounted at the same place, the same CINESEQ_MODEL_DIR).")
    return path


@dataclass
class Progress:
    """Films done / failed / remaining and throughput, for the run's log."""

    label: str
    total: int
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def remaining(self) -> int:
        return self.total - self.done - self.failed

    def line(self) -> str:
        elapsed = time.perf_counter() - self.started
        rate = (self.done + self.failed) / elapsed * 60 if elapsed > 0 else 0.0
        return (f"{self.label}: {self.done} films done, {self.failed} failed, {self.remaining} remaining "
                f"({rate:.1f} films/min, {elapsed:.0f} s)")


class BatchCompute:
    """A film computation that is cheaper for many films at once (one forward pass for the batch):
    ``compute_many(films)`` returns film -> result, or film -> CineSeqError for a film whose data are
    wrong. ``fan_out`` calls it with each task's films; calling the object computes one film."""

    def compute_many(self, films: Sequence[str]) -> dict[str, object]:
        raise NotImplementedError

    def __call__(self, film: str) -> object:
        result = self.compute_many([film])[film]
        if isinstance(result, CineSeqError):
            raise result
        return result


def run_batch(compute: Callable[[str], object], films: Sequence[str],
              finish: Callable[[object], object] | None = None) -> list[tuple[str, bool, object]]:
    """The task: ``(film, True, finish(result))`` or ``(film, False, message)`` for each film.

    A CineSeqError is the data's fault and would fail the same way again: it is returned, not raised,
    so that Dask does not retry it. Anything else raises, so that Dask retries the task."""
    outcomes = _computed(compute, films)
    if finish is None:
        return outcomes
    return [(film, ok, _finished(finish, film, value) if ok else value) for film, ok, value in outcomes]


def _finished(finish: Callable[[object], object], film: str, value: object) -> object:
    try:
        return finish(value)
    except Exception as error:
        raise FilmTaskError(f"film {film!r} on worker {worker_name()}: {type(error).__name__}: {error}") from error


def _computed(compute: Callable[[str], object], films: Sequence[str]) -> list[tuple[str, bool, object]]:
    if isinstance(compute, BatchCompute) and len(films) > 1:
        try:
            results = compute.compute_many(films)
        except Exception as error:
            raise FilmTaskError(f"films {films[0]!r} .. {films[-1]!r} ({len(films)}) on worker {worker_name()}: "
                                f"{type(error).__name__}: {error}") from error
        return [(film, not isinstance(result, CineSeqError), str(result) if isinstance(result, CineSeqError) else result)
                for film, result in ((film, results[film]) for film in films)]
    outcomes = []
    for film in films:
        try:
            outcomes.append((film, True, compute(film)))
        except CineSeqError as error:
            outcomes.append((film, False, str(error)))
        except Exception as error:
            raise FilmTaskError(f"film {film!r} on worker {worker_name()}: {type(error).__name__}: {error}") from error
    return outcomes


def failure_listing(errors: dict[str, str], shown: int = 20) -> str:
    """The failed films of ``fan_out`` as lines for a run's failure message (the first ``shown``)."""
    return "\n".join(f"- {film}: {message}" for film, message in list(errors.items())[:shown])


def batches(films: Sequence[str], size: int) -> list[list[str]]:
    return [list(films[i:i + size]) for i in range(0, len(films), max(1, size))]


def fan_out(client, compute: Callable[[str], object], films: Sequence[str], *, label: str, batch_size: int = 1,
            retries: int = RETRIES, report: Log = print, report_every_s: float = REPORT_EVERY_S,
            on_result: Callable[[str, object], None] | None = None,
            on_failure: Callable[[str, str], None] | None = None,
            finish: Callable[[object], object] | None = None) -> dict[str, str]:
    """``compute(film)`` for every film on the cluster of ``client`` (in this process when None).

    ``compute`` must pickle (cloudpickle): it is sent to each worker once, not once per task, so it
    may carry the inputs every film needs. ``on_result(film, result)`` and ``on_failure(film, message)``
    run here as each film arrives (results are not kept here: the caller keeps what it needs of each);
    returns film -> message of the films that failed. ``finish(result)`` runs where the film was computed
    (to send back something cheaper to receive, such as encoded bytes). Each task computes ``batch_size`` films; a
    ``BatchCompute`` computes them together (``compute_many``), anything else film by film.
    A batch that fails after its retries is split into single films, so that only the film that raises
    fails."""
    progress = Progress(label, len(films))
    errors: dict[str, str] = {}
    last_report = [time.perf_counter()]

    def receive(film: str, ok: bool, value: object) -> None:
        if ok:
            progress.done += 1
            if on_result:
                on_result(film, value)
        else:
            errors[film] = str(value)
            progress.failed += 1
            (on_failure or (lambda film, message: report(f"{label}[{film}] failed: {message}")))(film, str(value))
        if time.perf_counter() - last_report[0] >= report_every_s:
            report(progress.line())
            last_report[0] = time.perf_counter()

    if client is None:  # nothing to amortize here but a BatchCompute's batches; a failed batch film by film
        for batch in batches(films, batch_size if isinstance(compute, BatchCompute) else 1):
            for film_id, ok, value in _run_here(compute, batch, finish):
                receive(film_id, ok, value)
    elif films:
        _gather(client, compute, films, batch_size, retries, label, receive, finish)
    report(progress.line())
    return errors


def _run_here(compute, batch: list[str], finish) -> list[tuple[str, bool, object]]:
    try:
        return run_batch(compute, batch, finish)
    except FilmTaskError as error:
        if len(batch) == 1:
            return [(batch[0], False, str(error))]
        return [outcome for film in batch for outcome in _run_here(compute, [film], finish)]


def _gather(client, compute, films, batch_size: int, retries: int, label: str, receive, finish) -> None:
    from distributed import as_completed

    shared = client.scatter(compute, broadcast=True, hash=False)  # once per worker, not once per task
    run_id = uuid.uuid4().hex[:8]
    batch_of: dict[str, list[str]] = {}

    def submit(batch: list[str]):
        future = client.submit(run_batch, shared, batch, finish, retries=retries, pure=False,
                               key=f"{label}-{batch[0]}-{len(batch)}-{run_id}-{len(batch_of)}")
        batch_of[future.key] = batch
        return future

    pending = as_completed([submit(batch) for batch in batches(films, batch_size)], loop=client.loop)
    try:
        for future in pending:
            batch = batch_of[future.key]
            if future.status == "finished":
                for film, ok, value in future.result():
                    receive(film, ok, value)
            elif len(batch) > 1:  # find the film that raises: its neighbours must not fail with it
                for film in batch:
                    pending.add(submit([film]))
            else:
                receive(batch[0], False, _describe(future.exception(), batch[0]))
            future.release()
    finally:  # an interrupted run (an error in on_result, Ctrl-C) leaves nothing running for it
        client.cancel([*pending.futures, shared], force=True)


def _describe(error: BaseException, film: str) -> str:
    """The message of a task's final error; a worker lost too often (KilledWorker) says so in its own words."""
    text = str(error)
    return text if film in text else f"film {film!r}: {type(error).__name__}: {text}"
