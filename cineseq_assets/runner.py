"""Materializing the default graph from Python (what ``cineseq run`` does), on the project instance.

The stages and their order are the asset jobs of jobs.STAGES; this module launches them: the
catalog first (its films registered as partitions), then each stage in turn, per-film stages over
contiguous film partition ranges, one run after the other. Neighbouring stages marked side_by_side
(the two models trained on the shared images) run at once, each on its share of the threads: the
first in this process, the others in processes of their own (stage_process.py). An optional stage whose inputs are not
found (stage_inputs.py) or whose switch is off is left out, said in one "not run:" line each. The
films of a run are spread over one Dask cluster for the whole command (dask_engine.py): an existing
scheduler (``scheduler``), or a LocalCluster of ``workers`` processes owned by this process (they exit
with it), connected to or started when the first run is launched (a run with nothing to do starts
none). Only what is missing or stale is materialized (staleness.py: code versions and data versions);
``force`` recomputes everything. Every run is an ordinary Dagster run of a named job,
visible in the UI afterwards. An optional stage that fails fails the command, not the stages after it.

A run killed outside Dagster's reach (``kill -9``, a power cut) cannot record its own end: each run
is tagged with the identity of the process that executes it, and the next ``cineseq run`` marks the
runs whose process is gone as failed and removes the temporary files their writes left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from functools import cache

import dagster as dg

from . import stage_inputs
from .dask_engine import open_client
from .definitions import build_definitions
from .errors import CineSeqError
from .jobs import NOT_IN_DEFAULT_GRAPH, STAGES, Stage, register_new_films
from .partitions import FILMS_PER_RUN, films_partitions
from .processes import available_threads, identity, still_running, threads_limited
from .resources import DaskResource
from .staleness import Staleness
from .storage import Storage

MIN_FORECAST_FILMS = 20  # fewer films cannot fill the train, validation and test splits
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
PROCESS_TAG = "cineseq/process"  # processes.identity() of the process that executes the run
UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]

Log = Callable[[str], None]


class SelectionError(CineSeqError):
    """``cineseq run`` was asked for films or stages that do not exist."""


@dataclass(frozen=True)
class RunOptions:
    films: str = "all"  # all, showcase, or comma-separated film ids
    # The switches of jobs.SWITCHES (`--no-<switch>`): a stage that needs one runs only while it is on.
    forecast: bool = True
    student: bool = True
    frames: bool = True
    evaluation: bool = True
    # Optional stages asked for by name: they run by default now (when their inputs are found), so this
    # only checks the names; kept for the commands written before (`--include`).
    include: tuple[str, ...] = ()
    force: bool = False  # recompute what is fresh too
    workers: int | None = None  # Dask worker processes of the local cluster (default: one per core; 0: none)
    scheduler: str | None = None  # an existing Dask scheduler instead (default: $CINESEQ_DASK_SCHEDULER)


def select_films(spec: str, catalog) -> list[str]:
    """``all``, ``showcase`` or comma-separated ids (unknown ids are an error naming them)."""
    if spec == "all":
        return list(catalog["film_id"])
    if spec == "showcase":
        return list(catalog.loc[catalog["showcase"], "film_id"])
    wanted = [film.strip() for film in spec.split(",") if film.strip()]
    unknown = sorted(set(wanted) - set(catalog["film_id"]))
    if unknown:
        raise SelectionError(f"not in the catalog: {', '.join(unknown)}. List the films with `cineseq films`.")
    return wanted


def plan(options: RunOptions, missing_input: Callable[[str], str | None] = stage_inputs.missing
         ) -> tuple[list[Stage], dict[str, str]]:
    """The stages to run, in order, and each left-out stage with the reason: the switch that is off
    (``--no-frames``), or what input is missing and how to provide it (``missing_input``, one line; an
    input that names a stage is there when that stage runs before it)."""
    optional = {stage.name for stage in STAGES if stage.optional}
    unknown = sorted(set(options.include) - optional)
    if unknown:
        raise SelectionError(f"--include {', '.join(unknown)}: not an optional stage; choose from {', '.join(sorted(optional))}.")
    chosen, skipped = [], {}
    for stage in STAGES:
        off = [switch for switch in stage.needs if not getattr(options, switch)]
        if off:
            skipped[stage.name] = " ".join(f"--no-{switch}" for switch in off)
            continue
        planned = {stage.name for stage in chosen}
        missing = [reason for name in stage.inputs if name not in planned and (reason := missing_input(name))]
        if missing:
            skipped[stage.name] = "; ".join(missing)
        else:
            chosen.append(stage)
    return chosen, skipped


def deprecated_options(options: RunOptions) -> list[str]:
    """What the options ask that is the default now: one note each (the CLI prints them)."""
    return [f"--include {name}: no longer needed, {name} runs by default when its inputs are found "
            f"(its 'not run' line says what is missing)" for name in options.include]


def run_default_graph(options: RunOptions = RunOptions(), log: Log = print) -> bool:
    """Launch the chosen stages in order; True when every launched run succeeded."""
    stages, skipped = plan(options)
    for name, reason in {**skipped, **NOT_IN_DEFAULT_GRAPH}.items():
        log(f"not run: {name}: {reason}")
    engine = DaskResource.from_environment()
    scheduler = options.scheduler or engine.scheduler
    workers = options.workers if options.workers is not None else engine.workers
    with ExitStack() as cluster:
        @cache
        def dask() -> DaskResource:
            # Every step connects to this one cluster: its workers start (and import the stages) once per
            # command, when the first run is launched (seconds that a run with nothing to do saves).
            client = cluster.enter_context(open_client(scheduler, workers, log))
            return DaskResource(workers=0) if client is None else DaskResource(scheduler=client.scheduler.address)

        return _run_stages(stages, options, dask, log)


def _run_stages(stages: list[Stage], options: RunOptions, dask: Callable[[], DaskResource], log: Log) -> bool:
    # Built now, not at import: the resources read the environment (storage root, sources) as it is now.
    # These definitions answer what the stages hold (graph, storage, staleness); each launch builds its own.
    run = _Run(build_definitions(dask=DaskResource(workers=0)), dg.DagsterInstance.get(), options.force, log, dask)
    recover_from_killed_runs(run.instance, run.storage, log)
    catalog_stage, *rest = stages
    if not run.stage(catalog_stage, 1, len(stages), []):
        return False
    catalog = run.storage.read("film_catalog")
    new = register_new_films(run.instance, catalog)
    films = select_films(options.films, catalog)
    log(f"    registered {len(new)} new film partitions; {len(films)} films selected")
    ok, failed = True, set()
    for group in side_by_side_groups(list(enumerate(rest, start=2))):
        outcomes = run.group(group, len(stages), films, failed)
        for (_, stage), stage_ok in zip(group, outcomes):
            ok = ok and stage_ok is not False
            if stage_ok is False:
                failed.add(stage.name)
                if not run.is_per_film(stage) and not stage.optional:
                    return False  # what follows needs this stage's output; failed films of a per-film stage are reported
    return ok  # an optional part that failed fails the command, not the stages after it


def side_by_side_groups(numbered: list[tuple[int, Stage]]) -> list[list[tuple[int, Stage]]]:
    """The numbered stages in order, neighbours marked ``side_by_side`` in one group, every other stage alone."""
    groups: list[list[tuple[int, Stage]]] = []
    for item in numbered:
        if groups and item[1].side_by_side and groups[-1][-1][1].side_by_side:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def recover_from_killed_runs(instance: dg.DagsterInstance, storage: Storage, log: Log) -> list[str]:
    """Mark the unfinished runs whose process no longer runs as failed, and remove the temporary files
    of writers that no longer run; returns the failed run ids. Runs of another host are left alone."""
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        process = run.tags.get(PROCESS_TAG)
        if process and still_running(process) is False:
            instance.report_run_failed(run, message=f"the process that executed this run ({process}) is gone: "
                                                    "it was killed before it could finish")
            failed.append(run.run_id)
    if failed:
        log(f"marked {len(failed)} run(s) of killed processes as failed: {', '.join(run_id[:8] for run_id in failed)}")
    removed = storage.remove_stale_temporaries()
    if removed:
        log(f"removed {len(removed)} temporary file(s) left by killed writes")
    return failed


def _enough_films_to_forecast(storage: Storage, number: int, total: int, stage: Stage, log: Log) -> bool:
    films_in_panel = storage.read("panel")["film_id"].nunique()
    if films_in_panel >= MIN_FORECAST_FILMS:
        return True
    log(f"{number}/{total} {stage.name} skipped: the panel holds {films_in_panel} films, training needs at least "
        f"{MIN_FORECAST_FILMS} (train, validation and test films); run more films, e.g. --films showcase or all")
    return False


@dataclass
class _Run:
    """One ``cineseq run``: the definitions and instance its stages run on."""

    defs: dg.Definitions
    instance: dg.DagsterInstance
    force: bool
    log: Log
    dask: Callable[[], DaskResource]  # the command's cluster, started on first use
    launched: int = 0  # runs launched so far

    def numbered_stage(self, number: int, stage: Stage, total: int, films: list[str], failed: set[str]) -> bool | None:
        """Stage ``number`` of ``total``: its success, or None when it was skipped."""
        if self._skipped(number, stage, total, failed):
            return None
        started, launched = time.perf_counter(), self.launched
        stage_ok = self.stage(stage, number, total, films)
        if self.launched > launched or not stage_ok:  # the time of each stage that materialized something
            self._log_end(stage, stage_ok, time.perf_counter() - started)
        return stage_ok

    def group(self, group: list[tuple[int, Stage]], total: int, films: list[str], failed: set[str]) -> list[bool | None]:
        """The stages of ``group`` (see side_by_side_groups): one alone, or several at once on their shares of
        the threads (``_side_by_side``), their log lines interleaved; each one's outcome, None when skipped."""
        if len(group) == 1:
            return [self.numbered_stage(*group[0], total, films, failed)]
        outcomes: dict[int, bool | None] = {}
        todo: dict[int, tuple[Stage, list[str]]] = {}
        for number, stage in group:
            if self._skipped(number, stage, total, failed):
                outcomes[number] = None
            elif assets := self._assets_to_materialize(stage, self._header(number, total, stage)):
                todo[number] = (stage, assets)
            else:
                outcomes[number] = True
        if todo:
            outcomes |= self._side_by_side(todo)
        return [outcomes[number] for number, _ in group]

    def _side_by_side(self, todo: dict[int, tuple[Stage, list[str]]]) -> dict[int, bool]:
        """The first stage's run here, each other one's in a process of its own started first (stage_process.py),
        each on its share of the threads; the first should be the longest (the others pay for starting)."""
        (first, (stage, assets)), *others = todo.items()
        share = max(1, available_threads() // len(todo))
        if others:
            self.log(f"    {' and '.join(stage.name for stage, _ in todo.values())} side by side, "
                     f"{share} thread{'s' if share > 1 else ''} each")
        started = time.perf_counter()
        children = {number: start_stage_process(job.job_name, job_assets, share) for number, (job, job_assets) in others}
        # each child waited for by a thread of its own, so that its time is its own, not the first stage's too
        waiting = ThreadPoolExecutor(max(1, len(children)))
        ends = {number: waiting.submit(lambda child: (child.wait(), time.perf_counter()), child)
                for number, child in children.items()}
        outcomes = {}
        try:
            # Alone (the others up to date), the stage keeps the command's own threads (CINESEQ_TORCH_THREADS).
            with threads_limited(share) if others else nullcontext():
                outcomes[first] = self._launch(stage.job_name, assets)
            self._log_end(stage, outcomes[first], time.perf_counter() - started)
            for number, end in ends.items():
                status, ended = end.result()
                outcomes[number] = status == 0
                self._log_end(todo[number][0], outcomes[number], ended - started)
        finally:  # interrupted (Ctrl-C): the processes that still run are stopped too
            for child in children.values():
                if child.poll() is None:
                    child.terminate()
            waiting.shutdown()
        self.launched += len(children)
        return outcomes

    def _skipped(self, number: int, stage: Stage, total: int, failed: set[str]) -> bool:
        """Whether the stage cannot run now, said in the log: too few films to forecast, or an input that a
        stage which failed in this command should have made."""
        if stage.forecasts_panel and not _enough_films_to_forecast(self.storage, number, total, stage, self.log):
            return True
        # A stage that failed in this run is an input only while what it left before is there (its last good copy).
        unmet = [reason for name in stage.inputs if name in failed and (reason := stage_inputs.missing(name))]
        if unmet:
            self.log(f"{number}/{total} {stage.name} skipped: {'; '.join(unmet)}")
        return bool(unmet)

    def _log_end(self, stage: Stage, ok: bool, seconds: float) -> None:
        self.log(f"    {stage.name}: {'done' if ok else 'FAILED'} in {seconds:.0f} s")

    @staticmethod
    def _header(number: int, total: int, stage: Stage) -> str:
        return f"{number}/{total} {stage.name} ({', '.join(stage.assets)})"

    def stage(self, stage: Stage, number: int, total: int, films: list[str]) -> bool:
        header = self._header(number, total, stage)
        if self.is_per_film(stage):
            return self._per_film_stage(stage, header, films)
        todo = self._assets_to_materialize(stage, header)
        return self._launch(stage.job_name, todo) if todo else True

    def _assets_to_materialize(self, stage: Stage, header: str) -> list[str]:
        """The assets of an unpartitioned stage that are missing, stale or damaged (all with ``force``), said."""
        todo = list(stage.assets) if self.force or stage.always_run else self._staleness().assets_to_run(stage.assets)
        damaged = [error for name in stage.assets for error in self.storage.unreadable(name)]
        if damaged:  # what Dagster calls fresh but cannot be read is rebuilt, with what follows it in the stage
            for error in damaged:
                self.log(f"{header}: {error} Materializing it again.")
            first = stage.assets.index(damaged[0].asset)
            todo = [name for number, name in enumerate(stage.assets) if name in todo or number >= first]
        self.log(f"{header}: materializing {', '.join(todo)}" if todo else f"{header}: up to date, skipped")
        return todo

    @property
    def storage(self) -> Storage:
        """What this run's definitions store under (the IO manager's and the artifact store's root)."""
        return self.defs.resources["artifacts"].storage

    def is_per_film(self, stage: Stage) -> bool:
        graph = self.defs.resolve_asset_graph()
        return any(graph.get(dg.AssetKey(name)).partitions_def == films_partitions for name in stage.assets)

    def _per_film_stage(self, stage: Stage, header: str, films: list[str]) -> bool:
        if stage.films_with_trailer:
            films = self._films_with_trailer(films)
            if not films:
                self.log(f"{header}: no selected film has a trailer (set CINESEQ_TRAILER_DIR or CINESEQ_TRAILER_MANIFEST), "
                         "skipped")
                return True
        groups = {tuple(stage.assets): films} if self.force else self._staleness().films_to_run(stage.assets, films)
        damaged = self._damaged_films(stage, films, header)
        if damaged:  # stored but unreadable: all of the stage's assets again for those films
            groups = {assets: [film for film in group if film not in damaged] for assets, group in groups.items()}
            groups[tuple(stage.assets)] = [*groups.get(tuple(stage.assets), []), *damaged]
            groups = {assets: group for assets, group in groups.items() if group}
        todo = sum(len(group) for group in groups.values())
        self.log(f"{header}: {todo} of {len(films)} films to materialize, skipped {len(films) - todo} up to date")
        order = self.instance.get_dynamic_partitions(films_partitions.name)
        ok = True
        for assets, group in groups.items():
            for film_range in contiguous_ranges(group, order, FILMS_PER_RUN):
                range_ok = self._launch(stage.job_name, list(assets), film_range)
                self.log(f"    {' + '.join(assets)} films {film_range[0]} .. {film_range[1]}: {'ok' if range_ok else 'FAILED'}")
                ok = ok and range_ok
        return ok

    def _launch(self, job_name: str, assets: Sequence[str], film_range: tuple[str, str] | None = None) -> bool:
        """One run of ``job_name`` restricted to ``assets`` (over a film partition range when given)."""
        self.launched += 1
        return launch_run(self.instance, job_name, assets, self.dask(), film_range)

    def _damaged_films(self, stage: Stage, films: list[str], header: str) -> list[str]:
        """The films whose stored partition of one of the stage's assets cannot be read (Dagster sees them as
        materialized and fresh), each said in the log."""
        damaged: dict[str, None] = {}
        for name in stage.assets:
            for error in self.storage.unreadable(name, films):
                self.log(f"{header}: film {error.partition}: {error} Materializing it again.")
                damaged[error.partition] = None
        return list(damaged)

    def _staleness(self) -> Staleness:
        return Staleness(self.defs, self.instance)  # anew for each stage: the stages before it changed the instance

    def _films_with_trailer(self, films: list[str]) -> list[str]:
        trailers = self.defs.resources.get("trailers")
        return [film for film in films if trailers is not None and trailers.path_for(film) is not None]


def launch_run(instance: dg.DagsterInstance, job_name: str, assets: Sequence[str], dask: DaskResource,
               film_range: tuple[str, str] | None = None) -> bool:
    """One run of ``job_name`` restricted to ``assets`` (over a film partition range when given), executed
    in this process and tagged with it (see recover_from_killed_runs); True when it succeeded."""
    tags = {PROCESS_TAG: identity()}
    if film_range:
        tags |= {"dagster/asset_partition_range_start": film_range[0], "dagster/asset_partition_range_end": film_range[1]}
    # Fresh definitions, as a launch from the UI would load them (no resource state carried over from the last run).
    result = build_definitions(dask=dask).resolve_job_def(job_name).execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey(name) for name in assets], tags=tags,
        run_config=QUIET, raise_on_error=False,
    )
    return result.success


def launch_side_by_side_run(job_name: str, assets: Sequence[str]) -> bool:
    """``launch_run`` on the project instance, as the process of a side-by-side stage runs it (stage_process.py):
    those stages are unpartitioned, so their work stays in the process (no Dask cluster)."""
    return launch_run(dg.DagsterInstance.get(), job_name, assets, DaskResource(workers=0))


def start_stage_process(job_name: str, assets: Sequence[str], threads: int) -> subprocess.Popen:
    """``launch_run`` of an unpartitioned stage in a new process (stage_process.py) limited to ``threads``
    threads; its output goes where this process's does. The process is waited for by the caller."""
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "CINESEQ_TORCH_THREADS": str(threads)}
    return subprocess.Popen([sys.executable, "-m", "cineseq_assets.stage_process", job_name, *assets], env=environment)


def contiguous_ranges(selected: list[str], order: list[str], max_size: int) -> list[tuple[str, str]]:
    """Split the selected keys into (first, last) ranges of consecutive keys in partition order."""
    position = {key: i for i, key in enumerate(order)}
    ranges, current = [], []
    for key in sorted(selected, key=position.__getitem__):
        if current and (position[key] != position[current[-1]] + 1 or len(current) == max_size):
            ranges.append((current[0], current[-1]))
            current = []
        current.append(key)
    if current:
        ranges.append((current[0], current[-1]))
    return ranges
