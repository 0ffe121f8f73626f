"""How cost grows: trailer throughput on Dask, the whole default graph at 1x and 10x the catalog, and
what N machines would give.

    python benchmarks/scale.py [--parts trailers,graph] [--trailers 40] [--repeat 3]
                               [--scales 1,10] [--instances sqlite,postgres] [--no-forecast] [--graph-workers N]

**Trailers.** The shared clips (``$CINESEQ_SHARED/media/*.mp4|*.mov``) repeated under new film ids up
to ``--trailers`` films, given to ``trailer_emotion`` through a trailer manifest, and materialized in
one run over their partition range (a fresh SQLite instance and storage each time) with the films:
computed in this process pinned to one core (``workers=0``: the reference, one single-threaded worker's
worth of compute; the face detector takes one thread per core of its process); on a LocalCluster of 1 and 2 worker
processes that the step starts itself (``DaskResource(workers=N)``, as a run launched from the UI
does: the cluster's start and each worker's model loading are in the wall time); and on an
existing-scheduler cluster of 2 worker processes (``dask scheduler`` + ``dask worker``, started once,
``DaskResource(scheduler=...)``, as ``cineseq run`` and a real cluster do). The in-process run and the
existing cluster get one untimed warm-up run first (their processes outlive a run, so their models
are loaded once); the LocalCluster rows are cold by nature. Medians of ``--repeat`` runs.
Dask's overhead per task is measured by difference, in worker-seconds per film:
``(workers x (wall - cluster start) - in-process wall) / films``, i.e. everything the engine adds
to the same films computed in this process (process start and imports, model loading per worker,
scheduling, (de)serialization, results coming back, and workers idle at the end of the run); the
LocalCluster's start is timed alone (opened and closed) and reported beside it.

**The whole default graph** (``cineseq run`` without its optional parts, ``--no-student --no-frames
--no-evaluation``: the first two do not depend on the catalog, the evaluation is benchmarks/forecast.py's;
in a subprocess with its own ``CINESEQ_STORAGE`` and ``DAGSTER_HOME`` in a temporary folder, no trailers,
the default Dask cluster of one worker per core)
at each of ``--scales``, on each of ``--instances`` (PostgreSQL: a throwaway server from
scripts/postgres.sh, a new database per run). Scale 1 is the bundled catalog (2,885 films), run as a
user runs it. Any other scale reads a synthetic catalog that this script writes into the temporary
folder (never shipped) and gives to the run as a user box-office file (``box_office.kind: user_file``,
docs/user_data.md): the real films' days from the bundled weekly table (each week keeps its seven
days), ``round(scale x 2885)`` films, copy k of a film with the id ``<id>-copy<k>`` and its dates k
weeks later (the same weekday, so weekends and holidays fall as for real releases, and inside the
bundled market chart's years up to about 50x); titles are kept, so copies get the bundled metadata
by title and year as a user's film does. Below 1x the films are an even spread over the catalog's
years. It is written one copy at a time (memory: the bundled days plus one copy).
``--synthetic-1x`` makes scale 1 read the synthetic file too (a like-for-like reference for 10x).
Peak memory is the kernel's high-water mark of resident memory (VmHWM) of the driver and of its
largest child (a Dask worker), read every half second for each process of the tree; Dagster events
are counted in the run's instance afterwards (every run of the command). One run per case: the
10x full graph takes over an hour on 2 cores, so the figures that matter are the ratios between scales.

**Projection**: for N machines of 2 cores, the films per minute that the existing-cluster row's
per-worker rate gives, capped by what the one driver can receive (its CPU per film).

Prints one titled table per part, and the projection.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # instance.py: the throwaway PostgreSQL server
SHARED = Path(os.environ.get("CINESEQ_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("CINESEQ_MODEL_DIR", str(SHARED / "models"))

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
CLIP_SUFFIXES = (".mp4", ".mov")
WEEK_DAYS = 7
SAMPLE_EVERY_S = 0.5


# ---------------------------------------------------------------------------------------------------
# Trailers on Dask


def shared_clips(media: Path) -> list[Path]:
    clips = sorted(path for path in media.iterdir() if path.suffix.lower() in CLIP_SUFFIXES)
    if not clips:
        raise SystemExit(f"no .mp4 or .mov clip in {media}: set CINESEQ_SHARED to the shared data folder")
    return clips


def repeated_trailers(clips: list[Path], count: int) -> dict[str, Path]:
    """``count`` film ids, each given one of the clips in turn."""
    return {f"trailer-{number:03d}": clips[number % len(clips)] for number in range(count)}


def write_manifest(trailers: dict[str, Path], path: Path) -> Path:
    lines = ["film_id,path", *(f"{film},{clip}" for film, clip in trailers.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def video_seconds(trailers: dict[str, Path]) -> float:
    from cineseq_assets.media.video import probe

    duration = {clip: probe(clip).duration_s for clip in set(trailers.values())}
    return sum(duration[clip] for clip in trailers.values())


def fresh_instance_home(scratch: Path) -> Path:
    """A Dagster home with the project's default (SQLite) instance, as ``cineseq run`` writes it."""
    from cineseq_assets.dagster_instance import instance_yaml

    home = scratch / "home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(instance_yaml("sqlite", home))
    return home


def materialize_trailers(films: list[str], dask, scratch: Path) -> tuple[float, float]:
    """Wall seconds and this process's (the driver's) CPU seconds of one ``trailer_emotion`` run over
    ``films`` (registered as the only partitions) on a fresh instance and storage."""
    import dagster as dg

    from cineseq_assets.definitions import build_definitions
    from cineseq_assets.partitions import films_partitions

    os.environ["DAGSTER_HOME"] = str(fresh_instance_home(scratch))
    job = build_definitions(scratch / "storage", dask=dask).resolve_job_def("trailer_emotion_job")
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(films_partitions.name, films)
        tags = {"dagster/asset_partition_range_start": films[0], "dagster/asset_partition_range_end": films[-1]}
        started, cpu = time.perf_counter(), time.process_time()
        result = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("trailer_emotion")], tags=tags,
                                        run_config=QUIET)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        materialized = instance.get_materialized_partitions(dg.AssetKey("trailer_emotion"))
        assert result.success and len(materialized) == len(films), f"{len(materialized)} of {len(films)} films materialized"
    return wall, cpu


def local_cluster_start_s(workers: int) -> float:
    """Seconds to start a LocalCluster of ``workers`` processes until its workers are up, and close it."""
    from cineseq_assets.dask_engine import open_client

    started = time.perf_counter()
    with open_client(workers=workers, log=lambda line: None):
        ready = time.perf_counter() - started
    return ready


@contextmanager
def one_core() -> Iterator[bool]:
    """This process on one core for the block (yields whether it could be pinned): the in-process
    reference then computes as one single-threaded worker does, and its detector, which takes as many
    threads as the process has cores, is built with one (the analyzer is built once per process, here)."""
    if not hasattr(os, "sched_setaffinity"):
        yield False
        return
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        yield True
    finally:  # the worker processes started next inherit the whole machine again
        os.sched_setaffinity(0, cores)


@dataclass
class TrailerRow:
    engine: str
    workers: int  # worker processes (0: this process)
    walls: list[float]
    driver_cpus: list[float]
    starts: list[float]  # the cluster's start, timed alone (LocalCluster rows)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def start(self) -> float:
        return statistics.median(self.starts) if self.starts else 0.0

    def overhead_per_film(self, reference_wall: float, films: int) -> float | None:
        """Worker-seconds per film that the engine adds to the in-process computation."""
        if not self.workers:
            return None
        return (self.workers * (self.wall - self.start) - reference_wall) / films


def measure_trailers(trailers: dict[str, Path], repeat: int, scratch: Path) -> list[TrailerRow]:
    from cineseq_assets.dask_processes import ProcessCluster
    from cineseq_assets.resources import DaskResource

    os.environ["CINESEQ_TRAILER_MANIFEST"] = str(write_manifest(trailers, scratch / "trailers.csv"))
    films = list(trailers)
    warm_up = films[: min(len(films), 4)]

    def timed(row: TrailerRow, dask, warm: bool = False, start_workers: int = 0) -> TrailerRow:
        if warm:
            with tempfile.TemporaryDirectory(dir=scratch) as folder:
                materialize_trailers(warm_up, dask, Path(folder))
        for _ in range(repeat):
            if start_workers:
                row.starts.append(local_cluster_start_s(start_workers))
            with tempfile.TemporaryDirectory(dir=scratch) as folder:
                wall, cpu = materialize_trailers(films, dask, Path(folder))
            row.walls.append(wall)
            row.driver_cpus.append(cpu)
            print(f"  trailers: {row.engine}: {wall:.1f} s", file=sys.stderr, flush=True)
        return row

    with one_core() as pinned:
        label = "in this process, pinned to one core (workers=0)" if pinned else "in this process (workers=0)"
        rows = [timed(TrailerRow(label, 0, [], [], []), DaskResource(workers=0), warm=True)]
    for workers in (1, 2):
        rows.append(timed(TrailerRow(f"LocalCluster started by the step (workers={workers})", workers, [], [], []),
                          DaskResource(workers=workers), start_workers=workers))
    cluster_folder = scratch / "cluster"
    cluster_folder.mkdir()
    with ProcessCluster(cluster_folder, workers=2, pythonpath=str(ROOT)) as cluster:
        rows.append(timed(TrailerRow("existing scheduler, 2 `dask worker` processes", 2, [], [], []),
                          DaskResource(scheduler=cluster.address), warm=True))
    return rows


def print_trailer_table(rows: list[TrailerRow], films: int, seconds: float, clips: int, repeat: int) -> None:
    reference = rows[0].wall
    print(f"\n### trailer_emotion over {films} trailers ({clips} shared clips repeated; {seconds:.0f} s of video), "
          f"default settings (SCRFD, the teacher emotion model: a fresh storage has no student), {os.cpu_count()} cores, "
          f"median of {repeat}\n")
    print("| engine | wall (s) | films per minute | realtime factor | cluster start (s) | Dask overhead per film "
          "(worker-s) | driver CPU per film (ms) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        overhead = row.overhead_per_film(reference, films)
        print(f"| {row.engine} | {row.wall:.1f} | {60 * films / row.wall:.1f} | {seconds / row.wall:.1f}x | "
              f"{row.start:.1f} | {'-' if overhead is None else f'{overhead:.2f}'} | "
              f"{1000 * statistics.median(row.driver_cpus) / films:.0f} |")


def print_projection(rows: list[TrailerRow], films: int, seconds: float) -> None:
    """Films per minute on N machines of 2 cores, from the existing cluster's per-worker rate."""
    cluster = rows[-1]
    per_film_s = cluster.workers * cluster.wall / films  # worker-seconds per film, overhead included
    compute_s = rows[0].wall / films
    driver_s = statistics.median(cluster.driver_cpus) / films
    mean_clip_s = seconds / films
    trailer_s = 150.0  # a typical 2.5-minute trailer: the compute grows with its length, the overhead does not
    long_film_s = compute_s * trailer_s / mean_clip_s + (per_film_s - compute_s)
    print("\n### Projection: films per minute on N machines of 2 cores (2 worker processes each), one driver\n")
    print(f"films/min(N) = min(2N x 60 / (t + o), 60 / d); measured: t = {compute_s:.2f} s compute per film "
          f"({mean_clip_s:.1f} s clips), o = {per_film_s - compute_s:.2f} worker-s Dask overhead per film, "
          f"d = {1000 * driver_s:.0f} ms driver CPU per film (cap {60 / driver_s:.0f} films/min); "
          f"a {trailer_s:.0f} s trailer: t = {compute_s * trailer_s / mean_clip_s:.1f} s\n")
    print(f"| machines (N) | workers | films/min, these clips | films/min, {trailer_s:.0f} s trailers | "
          f"hours for 3,000 {trailer_s:.0f} s trailers |")
    print("|---|---|---|---|---|")
    for machines in (1, 2, 4, 8):
        workers = 2 * machines
        clips_rate = min(workers * 60 / per_film_s, 60 / driver_s)
        long_rate = min(workers * 60 / long_film_s, 60 / driver_s)
        print(f"| {machines} | {workers} | {clips_rate:.0f} | {long_rate:.1f} | {3000 / long_rate / 60:.1f} |")


# ---------------------------------------------------------------------------------------------------
# The synthetic catalog


def bundled_days(data) -> pd.DataFrame:
    """The bundled catalog's days in a user's daily-file layout, one row per film-day that has a gross:
    film_id, date, gross, theaters (the week's mean: the bundled table keeps no daily count), title,
    release_date, distributor; films in catalog order, days in date order."""
    day_columns = [f"day_gross_{day}" for day in range(1, WEEK_DAYS + 1)]
    ids = ["film_id", "week_start", "theaters_mean"]
    days = data.weekly[ids + day_columns].melt(id_vars=ids, var_name="day", value_name="gross").dropna(subset=["gross"])
    offset = days["day"].str.removeprefix("day_gross_").astype(int) - 1
    days = pd.DataFrame({"film_id": days["film_id"].astype(str), "date": days["week_start"] + pd.to_timedelta(offset, "D"),
                         "gross": days["gross"], "theaters": days["theaters_mean"].round()})
    films = data.films[["film_id", "title", "release_date", "distributor"]].astype({"film_id": str})
    order = {film: number for number, film in enumerate(films["film_id"])}
    days = days.merge(films, on="film_id", how="inner")
    days = days.assign(order=days["film_id"].map(order)).sort_values(["order", "date"]).drop(columns="order")
    return days.reset_index(drop=True)


def copy_plan(film_ids: list[str], scale: float) -> list[tuple[int, list[str]]]:
    """(copy number, the real films it holds) for ``round(scale x films)`` films: whole copies of the
    catalog, then a part copy of films spread evenly over the catalog (which is in release order)."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    total = round(scale * len(film_ids))
    whole, rest = divmod(total, len(film_ids))
    plan = [(copy, list(film_ids)) for copy in range(whole)]
    if rest:
        step = len(film_ids) / rest
        plan.append((whole, [film_ids[int(number * step)] for number in range(rest)]))
    return plan


def shifted_copy(days: pd.DataFrame, copy: int) -> pd.DataFrame:
    """Copy ``copy`` of the films in ``days``: new ids, every date ``copy`` weeks later (copy 0: the real films)."""
    if copy == 0:
        return days
    shift = pd.Timedelta(days=WEEK_DAYS * copy)
    return days.assign(film_id=days["film_id"] + f"-copy{copy}", date=days["date"] + shift,
                       release_date=days["release_date"] + shift)


def write_synthetic_catalog(scale: float, path: Path) -> int:
    """The synthetic catalog at ``scale`` as a user's daily Parquet file; returns its number of films.
    One copy is in memory at a time (one row group each)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cineseq_assets.boxoffice.bundled import load_bundled
    from cineseq_assets.boxoffice.userfile.limits import MAX_ROWS

    days = bundled_days(load_bundled())
    film_ids = list(dict.fromkeys(days["film_id"]))
    plan = copy_plan(film_ids, scale)
    rows_per_film = days.groupby("film_id", sort=False).size()
    rows = sum(int(rows_per_film[films].sum()) for _, films in plan)
    if rows > MAX_ROWS:
        raise SystemExit(f"a {scale}x catalog is {rows:,} daily rows; a user's file may hold {MAX_ROWS:,} "
                         "(boxoffice/userfile/limits.py): give a smaller --scales")
    writer = None
    try:
        for copy, films in plan:
            part = days if len(films) == len(film_ids) else days[days["film_id"].isin(films)]
            table = pa.Table.from_pandas(shifted_copy(part, copy), preserve_index=False)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return sum(len(films) for _, films in plan)


# ---------------------------------------------------------------------------------------------------
# The whole default graph


class PeakMemory:
    """Peak resident memory (MB) of a process and of its largest descendant, sampled in a thread: each
    process's kernel high-water mark (VmHWM), which a sample cannot miss while the process lives (where
    there is no /proc: its current RSS, which can)."""

    def __init__(self, pid: int):
        import psutil

        self.root = psutil.Process(pid)
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    self.peaks[process.pid] = max(self.peaks.get(process.pid, 0.0), _peak_mb(process))
                except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError, ProcessLookupError):
                    pass
            self._stop.wait(SAMPLE_EVERY_S)

    def stop(self) -> tuple[float, float | None]:
        """(driver, largest child) peaks in MB; None when the driver started no child."""
        self._stop.set()
        self._thread.join()
        children = [peak for pid, peak in self.peaks.items() if pid != self.root.pid]
        return self.peaks.get(self.root.pid, 0.0), max(children, default=None)


def _peak_mb(process) -> float:
    try:
        with open(f"/proc/{process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            raise
    return process.memory_info().rss / 2**20


def dagster_events(home: Path) -> tuple[int, int]:
    """(Dagster events, runs) recorded in the instance of ``home`` (read page by page: a 10x run has
    hundreds of thousands)."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(home)
    events = 0
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_run_records()
        for record in runs:
            cursor = None
            while True:
                page = instance.get_records_for_run(record.dagster_run.run_id, cursor=cursor, limit=5000)
                events += sum(entry.event_log_entry.is_dagster_event for entry in page.records)
                if not page.has_more:
                    break
                cursor = page.cursor
    return events, len(runs)


@dataclass
class GraphRun:
    instance: str
    scale: float
    source: str
    films: int
    wall: float
    driver_mb: float
    worker_mb: float | None
    events: int
    runs: int


def run_graph(scale: float, instance: str, synthetic: bool, forecast: bool, workers: int | None, scratch: Path) -> GraphRun:
    """One ``cineseq run`` of the default graph in a subprocess, on a fresh storage and Dagster home."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("CINESEQ_TRAILER_", "CINESEQ_DASK_", "CINESEQ_BOX_OFFICE", "CINESEQ_USER_FILE"))}
    home = scratch / "home"
    env |= {"CINESEQ_STORAGE": str(scratch / "storage"), "DAGSTER_HOME": str(home), "CINESEQ_INSTANCE": instance,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    if synthetic:
        catalog = scratch / "synthetic_catalog.parquet"
        started = time.perf_counter()
        films = write_synthetic_catalog(scale, catalog)
        print(f"  graph: {scale}x synthetic catalog, {films} films, written in {time.perf_counter() - started:.0f} s",
              file=sys.stderr, flush=True)
        env |= {"CINESEQ_BOX_OFFICE_SOURCE": "user_file", "CINESEQ_USER_FILE": str(catalog)}
    # The optional parts are left out: the student and the frame classifier do not depend on the catalog,
    # the evaluation is measured by benchmarks/forecast.py; the tables measure how the catalog's stages scale.
    optional_off = ["--no-student", "--no-frames", "--no-evaluation"]
    command = [sys.executable, "-m", "cineseq_assets.cli", "run", *(optional_off if forecast else ["--no-forecast"]),
               *([] if workers is None else ["--workers", str(workers)])]
    log = scratch / "cineseq_run.log"
    with open(log, "wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        memory = PeakMemory(process.pid)
        code = process.wait()
        wall = time.perf_counter() - started
    driver_mb, worker_mb = memory.stop()
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise SystemExit(f"cineseq run failed ({code}) at {scale}x on {instance}:\n{tail}")
    films = _catalog_films(scratch / "storage")
    events, runs = dagster_events(home)
    print(f"  graph: {scale}x on {instance}: {wall:.0f} s", file=sys.stderr, flush=True)
    return GraphRun(instance, scale, "synthetic file" if synthetic else "bundled", films, wall, driver_mb, worker_mb,
                    events, runs)


def _catalog_films(storage: Path) -> int:
    from cineseq_assets.storage import Storage

    return len(Storage(storage).read("film_catalog"))


def measure_graph(scales: list[float], instances: list[str], synthetic_1x: bool, forecast: bool,
                  workers: int | None, scratch: Path) -> list[GraphRun]:
    runs = []
    postgres = None
    try:
        if "postgres" in instances:
            from instance import Postgres  # benchmarks/instance.py

            postgres = Postgres().__enter__()
        for scale in scales:
            for instance in instances:
                if instance == "postgres":
                    postgres.database()
                with tempfile.TemporaryDirectory(dir=scratch) as folder:
                    runs.append(run_graph(scale, instance, synthetic_1x or scale != 1, forecast, workers, Path(folder)))
    finally:
        if postgres is not None:
            postgres.__exit__(None, None, None)
    return runs


def print_graph_table(runs: list[GraphRun], forecast: bool) -> None:
    stages = "the whole default graph" if forecast else "the default graph without the forecaster (--no-forecast)"
    print(f"\n### `cineseq run`: {stages}, a fresh storage and instance, one run per case, {os.cpu_count()} cores\n")
    print("| instance | scale | source | films | wall (s) | per film (ms) | driver peak RSS (GB) | worker peak RSS (GB) "
          "| Dagster runs | Dagster events per film |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        worker = "-" if run.worker_mb is None else f"{run.worker_mb / 1024:.2f}"
        print(f"| {run.instance} | {run.scale:g}x | {run.source} | {run.films} | {run.wall:.0f} | "
              f"{1000 * run.wall / run.films:.0f} | {run.driver_mb / 1024:.2f} | {worker} | {run.runs} | "
              f"{run.events / run.films:.1f} |")
    for instance in dict.fromkeys(run.instance for run in runs):
        mine = sorted((run for run in runs if run.instance == instance), key=lambda run: run.scale)
        if len(mine) > 1:
            first, last = mine[0], mine[-1]
            growth = (last.wall / last.films) / (first.wall / first.films)
            print(f"\n{instance}: time per film at {last.scale:g}x is {growth:.2f}x that at {first.scale:g}x "
                  f"({'linear' if growth < 1.15 else 'super-linear'} growth; 1.00 = linear); "
                  f"driver memory {last.driver_mb / first.driver_mb:.1f}x for {last.films / first.films:.1f}x the films")


# ---------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="trailers,graph", help="comma-separated: trailers, graph (default both)")
    parser.add_argument("--trailers", type=int, default=40, help="trailers in the throughput runs (default 40)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per trailer engine (default 3)")
    parser.add_argument("--scales", default="1,10", help="catalog sizes, times the 2,885 films (default 1,10; e.g. 0.05)")
    parser.add_argument("--instances", default="sqlite,postgres", help="Dagster instances: sqlite, postgres (default both)")
    parser.add_argument("--no-forecast", action="store_true", help="the graph without training, forecasts, attributions")
    parser.add_argument("--synthetic-1x", action="store_true", help="scale 1 reads the synthetic file too, not the bundled data")
    parser.add_argument("--graph-workers", type=int, default=None, help="cineseq run --workers (default: one per core)")
    args = parser.parse_args()
    # A fresh storage has no distilled student, so trailer_emotion uses the teacher (said in the table's title).
    warnings.filterwarnings("ignore", message="no trained emotion student")
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")  # as the CLI does
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    unknown = parts - {"trailers", "graph"}
    instances = [name.strip() for name in args.instances.split(",") if name.strip()]
    if unknown or set(instances) - {"sqlite", "postgres"}:
        parser.error("--parts takes trailers and graph, --instances sqlite and postgres")
    with tempfile.TemporaryDirectory(prefix="cineseq_scale_") as scratch:
        if "trailers" in parts:
            clips = shared_clips(SHARED / "media")
            trailers = repeated_trailers(clips, args.trailers)
            seconds = video_seconds(trailers)
            load = os.getloadavg()[0]
            rows = measure_trailers(trailers, args.repeat, Path(scratch))
            print_trailer_table(rows, len(trailers), seconds, len(clips), args.repeat)
            print_load(load)
            print_projection(rows, len(trailers), seconds)
        if "graph" in parts:
            scales = [float(scale) for scale in args.scales.split(",") if scale.strip()]
            load = os.getloadavg()[0]
            runs = measure_graph(scales, instances, args.synthetic_1x, not args.no_forecast, args.graph_workers, Path(scratch))
            print_graph_table(runs, not args.no_forecast)
            print_load(load)


def print_load(before: float) -> None:
    """Other work on the machine changes every figure: the reader should see how busy it was."""
    print(f"\nLoad average (1 min) on {os.cpu_count()} cores: {before:.1f} when the part started, "
          f"{os.getloadavg()[0]:.1f} when it ended.")


if __name__ == "__main__":
    main()
