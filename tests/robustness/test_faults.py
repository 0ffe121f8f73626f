"""Faults, table by table: a broken file of each kind while the demo serves (the last good copy keeps
serving, the reload error is shown), the same file at start-up (a message naming it, never a stack), a
damaged per-film Parquet under `cineseq run`, `kill -9` of a run while it writes and while it aggregates,
and a write that fails with ENOSPC."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from served_demo import NEW, SERVING, DemoProcess, alive, descendants, write_served_storage

from cineseq_assets.errors import CineSeqError
from cineseq_assets.forecast.boosting import SUFFIX as BOOSTER_SUFFIX
from cineseq_assets.forecast.serving import FilmService
from cineseq_assets.forecast.store import model_folder
from cineseq_assets.model_store import SERVING_FILE
from cineseq_assets.partitions import films_partitions
from cineseq_assets.runner import UNFINISHED, RunOptions, recover_from_killed_runs, run_default_graph
from cineseq_assets.storage import Storage, asset_path

# A user's daily file of three films as the box-office source: its catalog builds in a moment, so that a
# run reaches its per-film and aggregate steps quickly (the bundled catalog registers 2,885 films first).
USER_FILE = Path(__file__).resolve().parents[2] / "examples" / "my_films_daily.csv"
FILMS = ["inception-2010", "the-social-network-2010", "arrival-2016"]
_later = itertools.count(1)


def _rewrite(path: Path, data: bytes) -> None:
    """Write ``data`` with a modification time no earlier write has had (a reader keys on mtime and size)."""
    path.write_bytes(data)
    stamp = time.time() + next(_later)
    os.utime(path, (stamp, stamp))


def _touch_later(path: Path) -> None:
    _rewrite(path, path.read_bytes())


# ------------------------------------------------------------------ a broken file of each kind


def _new_model_with(suffix: str, damage: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """A freshly written NEW model, one of whose files is damaged, then published over SERVING."""
    def apply(storage: Path) -> None:
        folder = model_folder(storage)
        for other in folder.suffixes:  # the whole new model is (re)written ...
            _touch_later(folder.file(NEW, other))
        _rewrite(folder.file(NEW, suffix), damage(folder.file(NEW, suffix).read_bytes()))  # ... one file of it broken
        folder.publish(NEW, chosen_by="a test")
    return apply


def _scalers_cut(weights: bytes) -> bytes:
    """The weights file with its encoder scaler cut to 3 columns (the tensors intact)."""
    import io

    table = pq.read_table(io.BytesIO(weights))
    meta = json.loads(table.schema.metadata[b"cineseq"])
    meta["config"]["scalers"]["mean"]["encoder"] = meta["config"]["scalers"]["mean"]["encoder"][:3]
    sink = io.BytesIO()
    pq.write_table(table.replace_schema_metadata({b"cineseq": json.dumps(meta).encode()}), sink)
    return sink.getvalue()


def _stored_file(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda storage: _rewrite(storage / name, data)


@dataclass(frozen=True)
class BrokenFile:
    what: str
    apply: Callable[[Path], None]
    names: str  # what the error must name
    watched: str  # which reload error reports it: "model" or "panel"


BROKEN_FILES = [
    BrokenFile("weights not Parquet", _new_model_with(".parquet", lambda data: b"not parquet"), f"{NEW}.parquet", "model"),
    BrokenFile("weights truncated", _new_model_with(".parquet", lambda data: data[: len(data) // 2]), f"{NEW}.parquet", "model"),
    BrokenFile("scalers of another width", _new_model_with(".parquet", _scalers_cut), "scaler", "model"),
    BrokenFile("ONNX not a protobuf", _new_model_with(".onnx", lambda data: b"\x08\x01garbage" * 64), f"{NEW}.onnx", "model"),
    BrokenFile("ONNX truncated", _new_model_with(".onnx", lambda data: data[: len(data) // 3]), f"{NEW}.onnx", "model"),
    BrokenFile("booster edited", _new_model_with(BOOSTER_SUFFIX, lambda data: data.replace(b"tree", b"tree\n", 1)),
               f"{NEW}{BOOSTER_SUFFIX}", "model"),
    BrokenFile("serving.json empty", _stored_file(f"forecast_model/{SERVING_FILE}", b""), SERVING_FILE, "model"),
    BrokenFile("serving.json not JSON", _stored_file(f"forecast_model/{SERVING_FILE}", b'{"serving": '), SERVING_FILE, "model"),
    BrokenFile("panel.parquet empty", _stored_file("panel.parquet", b""), "panel.parquet", "panel"),
    BrokenFile("panel.parquet not Parquet", _stored_file("panel.parquet", b"PAR1" + b"\0" * 500), "panel.parquet", "panel"),
]


@pytest.fixture(scope="module")
def pristine_storage(tmp_path_factory, forecast_panel, tiny_models, tiny_final_totals) -> Path:
    return write_served_storage(tmp_path_factory.mktemp("pristine"), forecast_panel, tiny_models, tiny_final_totals)


@pytest.fixture(scope="module")
def served(tmp_path_factory, pristine_storage):
    """`cineseq demo` serving a copy of the pristine storage (each test restores it afterwards)."""
    storage = tmp_path_factory.mktemp("served") / "storage"
    shutil.copytree(pristine_storage, storage)
    demo = DemoProcess.start(storage, storage.parent / "tmp")
    yield demo, storage, demo.client()
    demo.stop()


def _restore(storage: Path, pristine: Path) -> None:
    for source in pristine.rglob("*"):
        if source.is_file():
            _rewrite(storage / source.relative_to(pristine), source.read_bytes())


@pytest.mark.parametrize("broken", BROKEN_FILES, ids=lambda b: b.what)
def test_a_broken_file_while_the_demo_serves_keeps_the_last_good_copy_serving(served, pristine_storage, broken):
    demo, storage, client = served
    film = FilmService(pristine_storage).catalog()["film_id"].iloc[0]
    assert client.predict(api_name="/model")["architecture"] == SERVING
    try:
        broken.apply(storage)
        forecast = client.predict(film, 0, api_name="/forecast")
        assert forecast["model"]["architecture"] == SERVING and len(forecast["rows"]) == 4
        model = client.predict(api_name="/model")
        assert model["architecture"] == SERVING
        assert broken.names in model["reload_errors"].get(broken.watched, ""), model["reload_errors"]
    finally:
        _restore(storage, pristine_storage)
    model = client.predict(api_name="/model")  # a good file again: served, the error gone
    assert model["architecture"] == SERVING and model["reload_errors"] == {}, model
    assert demo.process.poll() is None


@pytest.mark.parametrize("broken", BROKEN_FILES, ids=lambda b: b.what)
def test_a_broken_file_at_start_up_is_a_message_naming_it(tmp_path, pristine_storage, broken):
    """Nothing good to keep: every request says which file and what to do, the page still loads."""
    from demo.app import _model_status

    storage = tmp_path / "storage"
    shutil.copytree(pristine_storage, storage)
    model_folder(storage).publish(NEW, chosen_by="a test")  # NEW serves: its files are the ones broken
    broken.apply(storage)
    service = FilmService(storage)
    with pytest.raises(CineSeqError, match=broken.names) as raised:
        service.forecast(FilmService(pristine_storage).catalog()["film_id"].iloc[0])
    assert "Materialize" in str(raised.value) or "cineseq run" in str(raised.value)
    status = _model_status(service)
    assert (broken.names in status) == (broken.watched == "model")


# ------------------------------------------------------------------ a damaged per-film Parquet


@pytest.fixture
def three_films(monkeypatch):
    """The user's file of three films as the box-office source (set before any definitions are built)."""
    monkeypatch.setenv("CINESEQ_BOX_OFFICE_SOURCE", "user_file")
    monkeypatch.setenv("CINESEQ_USER_FILE", str(USER_FILE))


def test_a_damaged_film_partition_is_rebuilt_by_the_next_run(three_films, instance):
    lines: list[str] = []
    assert run_default_graph(RunOptions(films=",".join(FILMS), forecast=False), log=lines.append), lines
    damaged = asset_path("weekly_panel", FILMS[1], Storage.default().root)
    good = pq.read_table(damaged)
    damaged.write_bytes(damaged.read_bytes()[:100])

    lines.clear()
    assert run_default_graph(RunOptions(films=",".join(FILMS), forecast=False), log=lines.append), lines
    said = [line for line in lines if FILMS[1] in line and "cannot be read" in line]
    assert said and "Materializing it again" in said[0], lines
    assert pq.read_table(damaged).equals(good)
    assert sorted(Storage.default().read("panel")["film_id"].unique()) == sorted(FILMS)


def test_an_aggregate_leaves_a_damaged_film_out_and_names_it(three_films, instance, defs, stored):
    """The panel materialized from the UI (no `cineseq run` to rebuild first): the healthy films are pooled."""
    def run(selection, tags=None):
        return defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey(name) for name in selection], tags=tags or {},
            raise_on_error=False)

    assert run(["film_catalog"]).success
    instance.add_dynamic_partitions(films_partitions.name, FILMS)
    assert run(["weekly_panel"], {"dagster/asset_partition_range_start": FILMS[0],
                                  "dagster/asset_partition_range_end": FILMS[-1]}).success
    stored.asset_file("weekly_panel", FILMS[1]).write_bytes(b"")

    result = run(["panel"])
    assert result.success
    assert sorted(stored.read("panel")["film_id"].unique()) == sorted([FILMS[0], FILMS[2]])
    said = [entry.user_message for entry in instance.all_logs(result.run_id) if FILMS[1] in (entry.user_message or "")]
    assert said and "left out of this run" in said[0] and "cineseq run" in said[0], said


# ------------------------------------------------------------------ kill -9 of `cineseq run`


def _until(condition: Callable[[], object], seconds: float, what: str):
    deadline = time.time() + seconds
    while time.time() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not seen within {seconds} s: {what}")


def _command_lines(pids: set[int]) -> dict[int, str]:
    lines = {}
    for pid in sorted(pids):
        try:
            lines[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:300]
        except OSError:
            lines[pid] = "(gone)"
    return lines


def _started_runs(instance, job: str) -> list:
    return instance.get_run_records(dg.RunsFilter(job_name=job, statuses=[dg.DagsterRunStatus.STARTED]))


KILL_POINTS = {
    # a per-film stage: the Dask workers computing the films, the run writing their Parquet
    "while it writes films": lambda storage, instance: (_started_runs(instance, "film_panels_job")
                                                       and list((storage / "weekly_panel").glob("*"))),
    # the aggregate: the panel of every film
    "while it aggregates": lambda storage, instance: _started_runs(instance, "panel_job"),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_9_of_a_run_leaves_no_process_no_temp_file_no_started_run(three_films, isolated_project, instance, point,
                                                                       monkeypatch):
    monkeypatch.setenv("CINESEQ_DASK_WORKERS", "2")  # the run's own LocalCluster: its workers must die with it
    storage = Path(os.environ["CINESEQ_STORAGE"])
    out = isolated_project / "run.out"
    with out.open("w") as sink:
        run = subprocess.Popen([sys.executable, "-m", "cineseq_assets.cli", "run", "--no-forecast"], stdout=sink,
                               stderr=subprocess.STDOUT)
    try:
        _until(lambda: KILL_POINTS[point](storage, instance) or run.poll() is not None, 600, point)
        assert run.poll() is None, f"the run ended before it could be killed {point}: {out.read_text()[-2000:]}"
        below = descendants(run.pid)
        # Beside them: multiprocessing's resource tracker, Dagster's compute-log `tail -F` and its watchers
        workers = [line for line in _command_lines(below).values() if "multiprocessing.spawn" in line]
        assert len(workers) == 2, f"the run's two Dask worker processes: {_command_lines(below)}"
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        try:
            _until(lambda: not alive(below), 30, "the run's processes end with it")
        except AssertionError:  # say which processes outlived it, to tell a Dask worker from a Dagster helper
            raise AssertionError(f"still running 30 s after the run was killed {point}: "
                                 f"{_command_lines(alive(below))}") from None
    finally:
        if run.poll() is None:
            run.kill()

    for path in storage.rglob("*.parquet"):
        pq.read_table(path)  # every Parquet in place is whole
    lines: list[str] = []
    failed = recover_from_killed_runs(instance, Storage(storage), lines.append)  # what the next `cineseq run` does first
    assert failed, f"a run was in progress when it was killed: {lines}"
    assert not instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED))
    assert all(instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE for run_id in failed)
    assert not [path for path in storage.rglob(".*.tmp")]


# ------------------------------------------------------------------ a full disk

ENOSPC_WRITER = textwrap.dedent("""
    import errno, pathlib, sys
    import pyarrow as pa
    import pyarrow.parquet as pq

    def disk_full(where):
        raise OSError(errno.ENOSPC, "No space left on device", str(where))

    real_write_table, real_write_bytes = pq.write_table, pathlib.Path.write_bytes

    def write_table(table, where, *args, **kwargs):  # half the file reaches the disk, then the error
        buffer = pa.BufferOutputStream()
        real_write_table(table, buffer, *args, **kwargs)
        data = buffer.getvalue().to_pybytes()
        if hasattr(where, "write"):
            where.write(data[: len(data) // 2])
        else:
            real_write_bytes(pathlib.Path(where), data[: len(data) // 2])
        disk_full(where)

    def write_bytes(self, data):
        real_write_bytes(self, data[: len(data) // 2])
        disk_full(self)

    pq.write_table, pathlib.Path.write_bytes = write_table, write_bytes
    kind, root = sys.argv[1], pathlib.Path(sys.argv[2])
    if kind == "partition":
        import pandas as pd
        from cineseq_assets.io_manager import ParquetIOManager
        ParquetIOManager(base_dir=str(root)).write_partition("weekly_panel", "rl1", pd.DataFrame({"week": [9, 9, 9]}))
    elif kind == "weights":
        import numpy as np
        from cineseq_assets.weights import write_weights
        write_weights(root / "forecast_model" / "seq2seq.parquet", {"w": np.zeros(3)}, {"format_version": 0})
    elif kind == "serving.json":
        from cineseq_assets.forecast.store import model_folder
        (root / "forecast_model" / "seq2seq.parquet").exists() or sys.exit("no model to publish")
        model_folder(root).publish("seq2seq", chosen_by="a full disk")
""")

@pytest.mark.parametrize("kind", ["partition", "weights", "serving.json"])
def test_a_write_that_hits_a_full_disk_leaves_the_previous_file_whole(tmp_path, kind):
    import pandas as pd

    from cineseq_assets.storage import write_parquet_atomic

    root = tmp_path / "storage"
    write_parquet_atomic(pd.DataFrame({"week": [1, 2]}), root / "weekly_panel" / "rl1.parquet")
    write_parquet_atomic(pd.DataFrame({"name": ["previous"]}), root / "forecast_model" / "seq2seq.parquet")
    (root / "forecast_model" / SERVING_FILE).write_text(json.dumps({"serving": "seq2seq_attention"}))
    before = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}

    done = subprocess.run([sys.executable, "-c", ENOSPC_WRITER, kind, str(root)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=str(Path.cwd())))
    assert done.returncode != 0 and "No space left on device" in done.stderr, done.stderr[-2000:]
    after = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}
    assert after == before, f"changed or left behind: {sorted(set(after) ^ set(before))}"
