"""Parquet storage: atomic writes, readable errors, partition reading."""

import pandas as pd
import pytest

from cineseq_assets import storage


def test_write_then_read_round_trip(isolated_project):
    frame = pd.DataFrame({"film_id": ["a", "a"], "week": [1, 2], "gross": [1.0, 2.0]})
    path = storage.write_parquet_atomic(frame, storage.asset_path("weekly_panel", "a"))
    assert path == isolated_project / "storage" / "weekly_panel" / "a.parquet"
    pd.testing.assert_frame_equal(storage.read_asset("weekly_panel", "a"), frame)
    assert storage.stored_partitions("weekly_panel") == ["a"]


def test_a_failed_write_leaves_the_previous_file_intact(isolated_project):
    path = storage.asset_path("panel")
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


def test_missing_asset_error_says_what_to_do(isolated_project):
    with pytest.raises(FileNotFoundError, match="materialize partition 'zz' of 'weekly_panel' first"):
        storage.read_asset("weekly_panel", "zz")


def test_read_partitions_skips_what_was_never_materialized(isolated_project):
    for film in ("a", "b"):
        storage.write_parquet_atomic(pd.DataFrame({"film_id": [film]}), storage.asset_path("decay_fit", film))
    assert storage.read_partitions("decay_fit", ["a", "c"])["film_id"].tolist() == ["a"]
    assert storage.read_partitions("decay_fit")["film_id"].tolist() == ["a", "b"]
