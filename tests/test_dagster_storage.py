"""The project's event log (dagster_storage.py) as Dagster loads it: from the dagster.yaml that
`cineseq run` writes, through DagsterInstance.get() and through Dagster's own command line.

It subclasses private Dagster classes (so does staleness.py use a private resolver): the pin test
fails on any Dagster version other than the one in constraints.txt, so that an upgrade re-checks them.
"""

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import dagster as dg

from cineseq_assets.dagster_instance import prepare_dagster_home
from cineseq_assets.dagster_storage import PooledSqliteEventLogStorage

ROOT = Path(__file__).resolve().parents[1]
PRIVATE_SYMBOLS = {  # module -> names this project relies on
    "dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log": ["ConsolidatedSqliteEventLogStorage"],
    "dagster._core.storage.sqlite": ["SQLITE_BUSY_TIMEOUT_SECONDS"],
    "dagster._core.definitions.data_version": ["CachingStaleStatusResolver", "StaleStatus"],
    "dagster._core.asset_graph_view.asset_graph_view": ["AssetGraphView"],
    "dagster._core.definitions.temporal_context": ["TemporalContext"],
    "dagster._core.storage.event_log.schema": ["DynamicPartitionsTable"],
    "dagster._core.event_api": ["AssetRecordsFilter", "EventLogRecord", "EventRecordsResult"],
    "dagster._core.instance.methods.asset_methods": ["AssetMethods"],
    "dagster._core.instance.types": ["DynamicPartitionsStore"],
}


def test_dagster_is_the_pinned_version_whose_private_classes_we_use():
    import importlib

    pinned = re.search(r"^dagster==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M).group(1)
    assert dg.__version__ == pinned, (
        f"Dagster {dg.__version__} is installed, {pinned} is pinned: dagster_storage.py and staleness.py use private "
        "Dagster classes; check them against the new version (run this file and tests/test_runner.py), then move the pin.")
    for module, names in PRIVATE_SYMBOLS.items():
        loaded = importlib.import_module(module)
        assert all(hasattr(loaded, name) for name in names), (module, names)
    from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage

    # the two members the subclass relies on: the connection string it pools, the method it replaces
    assert callable(ConsolidatedSqliteEventLogStorage._connect)
    assert "_conn_string" in ConsolidatedSqliteEventLogStorage.__init__.__code__.co_names


def test_the_instance_from_dagster_yaml_uses_the_pooled_event_log(isolated_project):
    home = Path(os.environ["DAGSTER_HOME"])
    (home / "dagster.yaml").unlink()  # as a fresh checkout: `cineseq run` writes it
    prepare_dagster_home()
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        materialized = dg.materialize([tiny], instance=instance)
        assert materialized.success
        assert instance.get_latest_materialization_event(dg.AssetKey("tiny")) is not None
    database = next((home / "history" / "event_log").glob("*.db"))
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@dg.asset
def tiny() -> None:
    """Nothing to compute: the test is about the events recorded."""


def test_dagsters_command_line_materializes_through_the_pooled_event_log(isolated_project):
    home = Path(os.environ["DAGSTER_HOME"])
    (home / "dagster.yaml").unlink()
    prepare_dagster_home()
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "cineseq_assets.definitions",
               "--select", "film_catalog"]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-3000:]
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        event = instance.get_latest_materialization_event(dg.AssetKey("film_catalog"))
        assert event.asset_materialization.metadata["films"].value > 2000


def test_the_film_list_kept_in_memory_follows_every_change_another_process_makes(isolated_project):
    """Dagster reads the film partitions many times per run; the event log keeps the list while the table
    is unchanged, and another process (the UI, a sensor) adding or deleting films must be seen at once."""
    prepare_dagster_home()
    with dg.DagsterInstance.get() as reader, dg.DagsterInstance.get() as writer:
        writer.add_dynamic_partitions("films", ["a", "b", "c"])
        assert reader.get_dynamic_partitions("films") == ["a", "b", "c"]
        kept = reader.get_dynamic_partitions("films")
        kept.append("mutated by a caller")
        assert reader.get_dynamic_partitions("films") == ["a", "b", "c"]
        writer.add_dynamic_partitions("films", ["d"])
        assert reader.get_dynamic_partitions("films") == ["a", "b", "c", "d"]
        writer.delete_dynamic_partition("films", "b")
        assert reader.get_dynamic_partitions("films") == ["a", "c", "d"]
        writer.delete_dynamic_partition("films", "d")  # the last id, which SQLite gives to the next key
        writer.add_dynamic_partitions("films", ["e"])
        assert reader.get_dynamic_partitions("films") == ["a", "c", "e"]
        assert reader.get_dynamic_partitions("other") == []
