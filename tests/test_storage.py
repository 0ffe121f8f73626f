"""Parquet storage: one atomic writer (also when its process is killed), readable errors, partition
reading, and the one storage root shared by the IO manager, the artifact store, the demo and the CLI."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from cineseq_assets import storage
from cineseq_assets.resources import ArtifactStore
from cineseq_assets.storage import Storage
from cineseq_assets.weights import read_weights, write_weights


def test_write_then_read_round_trip(tmp_path):
    stored = Storage(tmp_path)
    frame = pd.DataFrame({"film_id": ["a", "a"], "week": [1, 2], "gross": [1.0, 2.0]})
    path = storage.write_parquet_atomic(frame, stored.asset_file("weekly_panel", "a"))
    assert path == tmp_path / "weekly_panel" / "a.parquet"
    pd.testing.assert_frame_equal(stored.read("weekly_panel", "a"), frame)
    assert storage.stored_partitions("weekly_panel", tmp_path) == ["a"]


def test_the_default_root_is_the_users_storage(isolated_project):
    assert Storage.default().root == isolated_project / "storage"  # $CINESEQ_STORAGE, a user-facing default
    assert ArtifactStore.default().root == Storage.default().root


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path):
    path = Storage(tmp_path).asset_file("panel")
    storage.write_parquet_atomic(pd.DataFrame({"x": [1, 2, 3]}), path)

    class Unwritable:  # to_parquet fails half-way, as an interrupted run would
        def to_parquet(self, target, index=False):
            with open(target, "wb") as handle:
                handle.write(b"PAR1 half a file")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        storage.write_parquet_atomic(Unwritable(), path)
    assert pd.read_parquet(path)["x"].tolist() == [1, 2, 3]
    assert [p.name for p in path.parent.iterdir()] == ["panel.parquet"]  # no temporary file left behind


def test_a_failed_byte_write_leaves_no_temporary_file(tmp_path):
    path = storage.write_bytes_atomic(b"good", tmp_path / "plot.png")

    def fail(tmp):
        tmp.write_bytes(b"ha")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        storage.write_atomic(path, fail)
    assert path.read_bytes() == b"good" and [p.name for p in tmp_path.iterdir()] == ["plot.png"]


# A writer process that writes the new file half-way, says so, and waits to be killed.
HALF_WRITE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from cineseq_assets.storage import write_atomic

    def half(tmp):
        with open(tmp, "wb") as handle:
            handle.write(b"PAR1 half of the new file")
            handle.flush()
            print("writing", flush=True)
            time.sleep(600)

    write_atomic(Path(sys.argv[1]), half)
""")


def _kill_mid_write(path) -> None:
    writer = subprocess.Popen([sys.executable, "-c", HALF_WRITE, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL


def test_a_writer_killed_mid_write_leaves_the_good_file_and_its_temporary_is_cleaned_later(tmp_path):
    good = pd.DataFrame({"film_id": ["a"], "gross": [1.0]})
    path = storage.write_parquet_atomic(good, tmp_path / "weekly_panel" / "a.parquet")
    _kill_mid_write(path)
    pd.testing.assert_frame_equal(pd.read_parquet(path), good)
    # A kill cannot clean up: the writer's hidden temporary file is all that is left, and readers skip it ...
    leftovers = [p for p in path.parent.iterdir() if p != path]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".a.parquet.") and leftovers[0].suffix == ".tmp"
    assert storage.read_partitions("weekly_panel", root=tmp_path).equals(good)
    # ... until the next clean-up of the folder (the IO manager's, once per output) removes it.
    assert storage.remove_stale_temporaries(path.parent) == leftovers
    assert [p.name for p in path.parent.iterdir()] == ["a.parquet"]


def test_the_temporary_file_of_a_running_writer_is_left_alone(tmp_path):
    path = tmp_path / "plot.png"
    own = path.with_name(f".plot.png.{os.getpid()}.beef.tmp")  # this process is alive
    own.write_bytes(b"in progress")
    assert storage.remove_stale_temporaries(tmp_path) == [] and own.exists()


WRITE_WEIGHTS_FOREVER = textwrap.dedent("""
    import sys
    import numpy as np
    from pathlib import Path
    from cineseq_assets.weights import write_weights

    for version in range(1, 10_000):
        state = {"w": np.full((400, 400), version, dtype=np.float32)}
        write_weights(Path(sys.argv[1]), state, {"version": version})
        print(version, flush=True)
""")


def test_weights_killed_at_any_moment_are_one_complete_version(tmp_path):
    """Weights go through the same writer: killed while rewriting, the file is a whole earlier version."""
    path = tmp_path / "model.parquet"
    writer = subprocess.Popen([sys.executable, "-c", WRITE_WEIGHTS_FOREVER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        written = [int(writer.stdout.readline()) for _ in range(3)]
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    state, config, _ = read_weights(path)
    assert config["version"] >= written[-1] and np.all(state["w"] == config["version"])
    storage.remove_stale_temporaries(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.parquet"]
    write_weights(path, {"w": np.zeros(2, np.float32)}, {"version": 0})
    assert read_weights(path)[1] == {"version": 0}


def test_missing_asset_error_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="materialize partition 'zz' of 'weekly_panel' first"):
        Storage(tmp_path).read("weekly_panel", "zz")


def test_read_partitions_skips_what_was_never_materialized(tmp_path):
    stored = Storage(tmp_path)
    for film in ("a", "b"):
        storage.write_parquet_atomic(pd.DataFrame({"film_id": [film]}), stored.asset_file("decay_fit", film))
    assert stored.read_partitions("decay_fit", ["a", "c"])["film_id"].tolist() == ["a"]
    assert stored.read_partitions("decay_fit")["film_id"].tolist() == ["a", "b"]


def test_partitions_read_together_keep_every_films_values_whatever_type_an_empty_column_was_stored_with(tmp_path):
    stored = Storage(tmp_path)
    films = {  # pandas stores a text column with no value as double: one table of text must still come back
        "a": pd.DataFrame({"film_id": ["a", "a"], "genres": ["Drama", "Comedy"], "gross": [1.0, 2.0]}),
        "b": pd.DataFrame({"film_id": ["b"], "genres": [np.nan], "gross": [3.0]}),
        "c": pd.DataFrame({"film_id": ["c"], "genres": ["Horror"], "gross": [np.nan]}),
    }
    for film, frame in films.items():
        storage.write_parquet_atomic(frame, stored.asset_file("weekly_panel", film))
    together = stored.read_partitions("weekly_panel", ["a", "b", "c"])
    assert together["genres"].tolist()[:2] == ["Drama", "Comedy"] and pd.isna(together["genres"][2])
    assert together["genres"][3] == "Horror" and together["gross"].tolist()[:3] == [1.0, 2.0, 3.0]
    assert pd.api.types.is_string_dtype(together["genres"]) and together["gross"].dtype == np.float64
    # Values of two types (a file written by other code): concatenated as pandas would, nothing lost
    storage.write_parquet_atomic(pd.DataFrame({"film_id": ["d"], "genres": ["War"], "gross": ["n/a"]}),
                                 stored.asset_file("weekly_panel", "d"))
    mixed = stored.read_partitions("weekly_panel", ["a", "d"])
    assert mixed["gross"].tolist() == [1.0, 2.0, "n/a"]


def test_the_artifact_store_writes_side_files_atomically_under_its_root(tmp_path):
    artifacts = ArtifactStore(base_dir=str(tmp_path))
    png = artifacts.write_bytes(b"\x89PNG", "decay_diagnostics", "r2_histogram.png")
    table = artifacts.write_table(pd.DataFrame({"x": [1]}), "decay_diagnostics", "pooled_fixed_effects.parquet")
    assert png == tmp_path / "decay_diagnostics" / "r2_histogram.png" == artifacts.path("decay_diagnostics", "r2_histogram.png")
    assert pd.read_parquet(table)["x"].tolist() == [1] and artifacts.folder("decay_diagnostics") == png.parent
    assert sorted(p.name for p in png.parent.iterdir()) == ["pooled_fixed_effects.parquet", "r2_histogram.png"]


@pytest.mark.parametrize("damage, said", [
    (lambda data: b"", "not a Parquet file (0 bytes"),
    (lambda data: data[:100], "incomplete Parquet file"),
    (lambda data: data[:-3], "incomplete Parquet file"),
    (lambda data: b"x" * len(data), "not a Parquet file"),
])
def test_a_damaged_stored_file_is_found_unreadable_and_a_missing_one_is_not(tmp_path, damage, said):
    stored = Storage(tmp_path)
    for film in ("good", "bad"):
        storage.write_parquet_atomic(pd.DataFrame({"film_id": [film] * 3, "week": [1, 2, 3]}),
                                     stored.asset_file("weekly_panel", film))
    path = stored.asset_file("weekly_panel", "bad")
    path.write_bytes(damage(path.read_bytes()))
    found = stored.unreadable("weekly_panel", ["good", "bad", "never_written"])
    assert [error.partition for error in found] == ["bad"] and said in str(found[0])
    with pytest.raises(Exception, match="bad"):
        stored.read("weekly_panel", "bad")  # what the check flags, a read refuses too
