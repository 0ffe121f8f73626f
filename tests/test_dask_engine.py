"""Per-film assets on a real Dask cluster: a scheduler and two workers started by the test as separate
processes (`dask scheduler`, `dask worker`) on 127.0.0.1, random ports, no dashboard.

What comes back from the cluster equals what the same assets compute in this process; a worker
killed with SIGKILL in the middle of a backfill costs nothing but time; a film whose task raises fails
its own partition only, named. Every process stops at the end of the module (and by itself if the test
process dies: the workers leave when the scheduler is gone, the scheduler when idle).
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from cineseq_assets.dask_processes import START_TIMEOUT_S, ProcessCluster
from cineseq_assets.definitions import build_definitions
from cineseq_assets.forecast import assets as forecast_assets
from cineseq_assets.forecast.store import model_dir, model_folder
from cineseq_assets.frames.classifier import classifier_dir
from cineseq_assets.partitions import films_partitions
from cineseq_assets.resources import DaskResource
from cineseq_assets.storage import Storage, write_parquet_atomic

REPO = Path(__file__).resolve().parents[1]
PER_FILM = ["weekly_panel", "decay_fit"]
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with ProcessCluster(tmp_path_factory.mktemp("dask_cluster"), pythonpath=str(REPO)) as started:
        yield started


@pytest.fixture
def showcase(instance, tmp_path) -> list[str]:
    """The catalog materialized (in this process), the showcase films registered as the only partitions."""
    defs = build_definitions(tmp_path / "catalog_storage", dask=DaskResource(workers=0))
    assert defs.resolve_job_def("film_catalog_job").execute_in_process(instance=instance, run_config=QUIET).success
    catalog = Storage(tmp_path / "catalog_storage").read("film_catalog")
    films = list(catalog.loc[catalog["showcase"], "film_id"])
    instance.add_dynamic_partitions(films_partitions.name, films)
    return films


def _materialize(instance, root: Path, dask: DaskResource, assets: list[str], films: list[str] | None,
                 job: str = "film_panels_job"):
    """A run of ``job`` over the film range (``films`` None: an unpartitioned asset)."""
    defs = build_definitions(root, dask=dask)
    tags = {"dagster/asset_partition_range_start": films[0], "dagster/asset_partition_range_end": films[-1]} if films else {}
    return defs.resolve_job_def(job).execute_in_process(instance=instance, asset_selection=[dg.AssetKey(a) for a in assets],
                                                        tags=tags, run_config=QUIET, raise_on_error=False)


def _assert_same_partitions(root: Path, reference: Path, assets: list[str], films: list[str]) -> None:
    for asset in assets:
        for film in films:
            pd.testing.assert_frame_equal(Storage(root).read(asset, film), Storage(reference).read(asset, film))


def _comparable(frame: pd.DataFrame, root: Path) -> pd.DataFrame:
    """Paths relative to the storage root, and no timings (they differ from run to run)."""
    if "thumbnail" in frame:
        frame = frame.assign(thumbnail=frame["thumbnail"].str.replace(str(root), "<root>", regex=False))
    return frame.drop(columns=[c for c in frame.columns if c in {"processing_s", "realtime_factor"}])


def _materializations_per_film(instance, asset: str) -> dict[str, int]:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=10_000).records
    counts: dict[str, int] = {}
    for record in records:
        counts[record.partition_key] = counts.get(record.partition_key, 0) + 1
    return counts


def test_the_cluster_computes_every_showcase_partition_as_this_process_does(cluster, instance, showcase, tmp_path):
    assert len(showcase) >= 20
    on_cluster = _materialize(instance, tmp_path / "cluster", DaskResource(scheduler=cluster.address), PER_FILM, showcase)
    assert on_cluster.success
    in_process = _materialize(instance, tmp_path / "local", DaskResource(workers=0), PER_FILM, showcase)
    assert in_process.success
    _assert_same_partitions(tmp_path / "cluster", tmp_path / "local", PER_FILM, showcase)
    logs = [e.message for e in instance.all_logs(on_cluster.run_id) if e.message]
    assert any(f"weekly_panel: {len(showcase)} films done, 0 failed, 0 remaining" in m for m in logs), logs[-5:]
    assert any(f"scheduler {cluster.address}, 2 workers" in m for m in logs)


def test_frames_trailers_forecasts_and_attributions_on_the_cluster_equal_this_process(
        cluster, instance, showcase, tmp_path, monkeypatch, media, save_tiny_model, frame_storage):
    with_trailer = showcase[:2]
    manifest = tmp_path / "trailers.csv"
    pd.DataFrame({"film_id": with_trailer, "path": str(media / "face_noface.mov")}).to_csv(manifest, index=False)
    monkeypatch.setenv("CINESEQ_TRAILER_MANIFEST", str(manifest))
    monkeypatch.setattr(forecast_assets, "FORECAST_FILMS_PER_TASK", 8)  # several tasks, merged back in film order
    monkeypatch.setattr(forecast_assets, "ATTRIBUTION_FILMS_PER_TASK", 8)
    engines = {"cluster": DaskResource(scheduler=cluster.address), "local": DaskResource(workers=0)}
    for name, dask in engines.items():
        root = tmp_path / name
        shutil.copytree(classifier_dir(frame_storage), classifier_dir(root))
        save_tiny_model(model_dir(root))
        model_folder(root).publish("seq2seq", chosen_by="test")
        assert _materialize(instance, root, DaskResource(workers=0), ["weekly_panel"], showcase).success
        assert _materialize(instance, root, DaskResource(workers=0), ["panel"], None, "panel_job").success
        for assets, films, job in [(["trailer_emotion"], with_trailer, "trailer_emotion_job"),
                                   (["representative_frames", "frame_predictions"], with_trailer, "film_frames_job"),
                                   (["forecasts"], showcase, "film_forecasts_job"),
                                   (["attributions"], None, "attributions_job")]:
            result = _materialize(instance, root, dask, assets, films, job)
            assert result.success, f"{name}: {job}"
            logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
            assert (name == "cluster") == any(f"scheduler {cluster.address}" in m for m in logs), (job, logs[-5:])
    cluster_storage, local_storage = Storage(tmp_path / "cluster"), Storage(tmp_path / "local")
    for asset, films in [("trailer_emotion", with_trailer), ("representative_frames", with_trailer),
                         ("frame_predictions", with_trailer), ("forecasts", showcase)]:
        for film in films:
            pd.testing.assert_frame_equal(_comparable(cluster_storage.read(asset, film), cluster_storage.root),
                                          _comparable(local_storage.read(asset, film), local_storage.root))
    assert (cluster_storage.read("representative_frames", with_trailer[0])["thumbnail"].map(os.path.exists)).all()
    # Integrated Gradients on one thread per worker against this process's threads: the same sums in another order
    pd.testing.assert_frame_equal(cluster_storage.read("attributions"), local_storage.read("attributions"), rtol=1e-4, atol=1e-6)


def test_a_worker_killed_in_the_middle_of_a_backfill_costs_nothing(cluster, instance, showcase, tmp_path):
    victim_address, victim_pid = sorted(cluster.worker_pids().items())[0]
    killed = threading.Event()

    def kill_when_busy() -> None:
        from distributed import Client

        with Client(cluster.address, timeout=60) as client:
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                if any(key.startswith("weekly_panel") for key in client.processing().get(victim_address, ())):
                    os.kill(victim_pid, signal.SIGKILL)
                    killed.set()
                    return
                time.sleep(0.05)

    killer = threading.Thread(target=kill_when_busy, daemon=True)
    killer.start()
    try:
        result = _materialize(instance, tmp_path / "cluster", DaskResource(scheduler=cluster.address), ["weekly_panel"],
                              showcase)
        killer.join(timeout=60)
        assert killed.is_set(), "the worker was not busy with a film while the backfill ran"
        assert result.success
        assert _materializations_per_film(instance, "weekly_panel") == dict.fromkeys(showcase, 1)
        assert _materialize(instance, tmp_path / "local", DaskResource(workers=0), ["weekly_panel"], showcase).success
        _assert_same_partitions(tmp_path / "cluster", tmp_path / "local", ["weekly_panel"], showcase)
    finally:  # the next test gets two workers again
        victim = next(w for w in cluster.workers if w.pid == victim_pid)
        victim.wait(timeout=60)
        index = cluster.workers.index(victim)
        cluster.workers[index] = cluster.start_worker("again")
        cluster.wait_for_workers(2, time.monotonic() + START_TIMEOUT_S)


def test_a_film_whose_task_raises_fails_alone_and_named(cluster, instance, showcase, tmp_path):
    films = showcase[:3]
    dask = DaskResource(scheduler=cluster.address, batch_size=3, retries=1)  # one batch: the bad film must be split out
    assert _materialize(instance, tmp_path / "cluster", dask, ["weekly_panel"], films).success
    bad = films[1]
    stored = Storage(tmp_path / "cluster")
    # A corrupt stored input, which the fit does not expect: its task raises (a ValueError, not a CineSeqError)
    write_parquet_atomic(stored.read("weekly_panel", bad).assign(gross="unreadable"), stored.asset_file("weekly_panel", bad))

    result = _materialize(instance, tmp_path / "cluster", dask, ["decay_fit"], films)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "1 of 3 films failed" in message and f"film {bad!r} on worker tcp://127.0.0.1:" in message
    assert "ValueError" in message and "unreadable" in message
    assert instance.get_materialized_partitions(dg.AssetKey("decay_fit")) == {films[0], films[2]}
    assert not stored.asset_file("decay_fit", bad).exists()
    for record in instance.fetch_materializations(dg.AssetKey("decay_fit"), limit=10).records:  # each film's own rows
        metadata = record.asset_materialization.metadata
        assert metadata["rows"].value == len(stored.read("decay_fit", record.partition_key))


OWNER = """
import os, sys, time
from cineseq_assets.dask_engine import open_client
with open_client(workers=1, log=lambda line: None) as client:
    print(*client.run(os.getpid).values(), flush=True)
    time.sleep(600)
"""


def test_the_local_cluster_workers_exit_when_their_owner_is_killed():
    """`cineseq run` killed with SIGKILL leaves no worker running: they watch a pipe to their owner."""
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True, start_new_session=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        worker_pid = int(owner.stdout.readline())
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _running(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(worker_pid), f"worker {worker_pid} outlived its owner"
    finally:
        if owner.poll() is None:
            owner.kill()


def _running(pid: int) -> bool:
    """Alive, not a zombie waiting for whoever adopted it to reap it."""
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    except FileNotFoundError:
        return False


BUDGETS = """
import os
from cineseq_assets.dask_engine import open_client
from cineseq_assets.processes import available_threads
with open_client(workers=1, log=lambda line: None) as client:
    trim = lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_", "unset")
    print(available_threads(), *client.run(available_threads).values(), *client.run(trim).values(), flush=True)
"""


def test_the_local_cluster_leaves_its_owner_its_own_thread_budget():
    """The workers run one thread each; the command that owns them keeps every core for its own work
    (Dask's nanny would otherwise leave OMP_NUM_THREADS=1 in the owner's environment). The workers keep
    glibc's own trim threshold: Dask's 64 KiB doubled the CPU time of Integrated Gradients there."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("OMP_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")}
    owner = subprocess.run([sys.executable, "-c", BUDGETS], capture_output=True, text=True, timeout=120,
                           env={**environment, "PYTHONPATH": str(REPO)})
    assert owner.returncode == 0, owner.stderr[-2000:]
    own, worker, trim = owner.stdout.split()
    assert (int(own), int(worker), trim) == (len(os.sched_getaffinity(0)), 1, "unset")
