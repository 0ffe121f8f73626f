"""The Dagster instance on PostgreSQL (CINESEQ_INSTANCE=postgres, cineseq_assets/dagster_postgres.yaml),
against a real server: scripts/postgres.sh starts a throwaway cluster on 127.0.0.1 for the session
(installing Debian's postgresql if it is missing) and removes it afterwards; each test gets its own database.

The tests that need the server are skipped only where PostgreSQL cannot be installed or started; the
switch's own behaviour (which dagster.yaml is written, the errors) is tested without one.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from cineseq_assets import cli
from cineseq_assets.dagster_instance import POSTGRES_VARIABLES, prepare_dagster_home, written_for
from cineseq_assets.dagster_storage import PooledSqliteEventLogStorage

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "postgres.sh"
CANNOT_INSTALL, CANNOT_START = 3, 4  # scripts/postgres.sh's exit codes
# Inception, The Grand Budapest Hotel, Avengers: Endgame: not neighbours in partition order, so two runs at once
FILMS = ("rl2908456449", "rl475497985", "rl3059975681")


@pytest.fixture(scope="session")
def postgres_server() -> dict[str, str]:
    """DAGSTER_PG_* of a throwaway cluster (database ``cineseq``), stopped and removed after the session."""
    started = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=600)
    if started.returncode in (CANNOT_INSTALL, CANNOT_START):
        pytest.skip(f"no PostgreSQL server for the instance tests: {started.stderr.strip()}")
    assert started.returncode == 0, started.stderr
    server = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    yield server
    subprocess.run(["bash", str(SCRIPT), "stop", server["PG_CLUSTER_DIR"]], check=True, timeout=120)


def _sql(server: dict[str, str], database: str, statement: str, autocommit: bool = False) -> list[tuple]:
    """One statement through psycopg2 (the driver dagster-postgres installs), outside Dagster."""
    import psycopg2

    connection = psycopg2.connect(host=server["DAGSTER_PG_HOST"], port=server["DAGSTER_PG_PORT"], dbname=database,
                                  user=server["DAGSTER_PG_USERNAME"], password=server["DAGSTER_PG_PASSWORD"])
    try:
        connection.autocommit = autocommit
        with connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


@pytest.fixture
def postgres_home(postgres_server, isolated_project, monkeypatch) -> dict[str, str]:
    """A fresh database for one test, and a DAGSTER_HOME switched to the PostgreSQL instance."""
    database = f"test_{secrets.token_hex(4)}"
    _sql(postgres_server, "cineseq", f"CREATE DATABASE {database}", autocommit=True)
    for name in POSTGRES_VARIABLES:
        monkeypatch.setenv(name, postgres_server[name])
    monkeypatch.setenv("DAGSTER_PG_DB", database)
    monkeypatch.setenv("CINESEQ_INSTANCE", "postgres")
    (isolated_project / "dagster_home" / "dagster.yaml").unlink()  # as a fresh checkout
    prepare_dagster_home()
    yield {**postgres_server, "DAGSTER_PG_DB": database}
    _sql(postgres_server, "cineseq", f"DROP DATABASE {database} WITH (FORCE)", autocommit=True)


def _assert_postgres_storage(instance: dg.DagsterInstance) -> None:
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)


def test_cineseq_run_records_its_films_in_postgres(postgres_home, isolated_project):
    """`cineseq run` over three films: its runs (two processes at once), events and materializations
    are in PostgreSQL, nothing in SQLite; a second run finds every film up to date."""
    from cineseq_assets.runner import RunOptions, run_default_graph

    lines: list[str] = []
    assert run_default_graph(RunOptions(films=",".join(FILMS), forecast=False), log=lines.append), lines
    with dg.DagsterInstance.get() as instance:
        _assert_postgres_storage(instance)
        films = set(FILMS)
        assert len(instance.get_dynamic_partitions("films")) > 2000  # the whole catalog registered
        panels = instance.get_materialized_partitions(dg.AssetKey("weekly_panel"))
        assert panels == films
        assert instance.get_materialized_partitions(dg.AssetKey("decay_fit")) == films
        runs = instance.get_runs()
        assert runs and all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
        assert {run.job_name for run in runs} >= {"film_catalog_job", "film_panels_job", "panel_job"}
        materialized = instance.fetch_materializations(dg.AssetKey("weekly_panel"), limit=1000).records
        assert {record.partition_key for record in materialized} == films

    database = postgres_home["DAGSTER_PG_DB"]
    rows = _sql(postgres_home, database, "SELECT partition, run_id FROM event_logs "
                "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key = '[\"weekly_panel\"]'")
    assert {partition for partition, _ in rows} == films and len(rows) == len(films)
    stored_runs = dict(_sql(postgres_home, database, "SELECT run_id, status FROM runs"))
    assert stored_runs == {run.run_id: "SUCCESS" for run in runs}
    assert {run_id for _, run_id in rows} <= set(stored_runs)
    assert not list((isolated_project / "dagster_home").rglob("*.db")), "nothing may be written to SQLite"

    lines.clear()
    assert run_default_graph(RunOptions(films=",".join(FILMS), forecast=False), log=lines.append), lines
    assert any(f"0 of {len(films)} films to materialize" in line for line in lines), lines


def test_dagsters_command_line_materializes_into_postgres(postgres_home):
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "cineseq_assets.definitions",
               "--select", "film_catalog"]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    with dg.DagsterInstance.get() as instance:
        _assert_postgres_storage(instance)
        event = instance.get_latest_materialization_event(dg.AssetKey("film_catalog"))
        assert event.asset_materialization.metadata["films"].value > 2000
    [(count,)] = _sql(postgres_home, postgres_home["DAGSTER_PG_DB"],
                      "SELECT count(*) FROM event_logs WHERE asset_key = '[\"film_catalog\"]' "
                      "AND dagster_event_type = 'ASSET_MATERIALIZATION'")
    assert count == 1


def test_the_instance_keeps_its_connections_instead_of_one_per_statement(postgres_home):
    """dagster-postgres alone connects anew for every statement (~7 ms each with SCRAM); the instance
    cineseq writes keeps its connections: events after the first open none."""
    database = postgres_home["DAGSTER_PG_DB"]
    others = f"SELECT pid FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    key = dg.AssetKey("connection_check")
    with dg.DagsterInstance.get() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition="first"))
        instance.get_latest_materialization_event(key)
        held = set(_sql(postgres_home, database, others))
        for number in range(20):
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=f"film{number}"))
            instance.get_latest_materialization_event(key)
        assert held, "the instance holds no connection between statements"
        assert set(_sql(postgres_home, database, others)) == held
        assert instance.get_materialized_partitions(key) == {"first", *(f"film{number}" for number in range(20))}


def test_the_film_list_is_read_again_only_after_another_process_changes_it(postgres_home, monkeypatch):
    """Dagster reads the film partitions three times per film that gets metadata of its own; the event log
    keeps the list (dagster_storage.PartitionListCache) and reads it again only when it changed."""
    from dagster_postgres import PostgresEventLogStorage

    reads = []
    read = PostgresEventLogStorage.get_dynamic_partitions
    monkeypatch.setattr(PostgresEventLogStorage, "get_dynamic_partitions",
                        lambda storage, name: reads.append(name) or read(storage, name))
    with dg.DagsterInstance.get() as reader, dg.DagsterInstance.get() as writer:
        writer.add_dynamic_partitions("films", ["a", "b", "c"])
        for _ in range(5):
            assert reader.get_dynamic_partitions("films") == ["a", "b", "c"]
        assert reads == ["films"]
        writer.add_dynamic_partitions("films", ["d"])
        writer.delete_dynamic_partition("films", "b")
        assert reader.get_dynamic_partitions("films") == ["a", "c", "d"]
        writer.delete_dynamic_partition("films", "d")
        writer.add_dynamic_partitions("films", ["e"])
        assert reader.get_dynamic_partitions("films") == ["a", "c", "e"]
        assert reader.get_dynamic_partitions("films") == ["a", "c", "e"]
        assert reads == ["films"] * 3


def test_the_switch_writes_the_instance_it_names_and_leaves_a_users_own_file(isolated_project, monkeypatch):
    config = isolated_project / "dagster_home" / "dagster.yaml"
    config.unlink()
    monkeypatch.delenv("CINESEQ_INSTANCE", raising=False)
    assert "SQLite" in prepare_dagster_home()
    assert written_for(config) == "sqlite"
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)

    for name in POSTGRES_VARIABLES:
        monkeypatch.setenv(name, "5432" if name.endswith("PORT") else "unused")
    monkeypatch.setenv("CINESEQ_INSTANCE", "postgres")
    assert "PostgreSQL unused@unused:5432/unused" in prepare_dagster_home()
    assert written_for(config) == "postgres" and "DAGSTER_PG_PASSWORD" in config.read_text()

    monkeypatch.setenv("CINESEQ_INSTANCE", "sqlite")
    prepare_dagster_home()
    assert written_for(config) == "sqlite"
    current = config.read_text()
    config.write_text(current.replace("PooledSqliteEventLogStorage", "SqliteEventLogStorage"))  # an older cineseq's
    prepare_dagster_home()
    assert config.read_text() == current

    config.write_text("telemetry:\n  enabled: false\n")  # the user's own: never rewritten
    monkeypatch.setenv("CINESEQ_INSTANCE", "postgres")
    assert "your own dagster.yaml" in prepare_dagster_home()
    assert config.read_text() == "telemetry:\n  enabled: false\n"


def test_the_postgres_instance_without_its_connection_is_an_error_naming_the_variables(isolated_project, monkeypatch,
                                                                                         capsys):
    (isolated_project / "dagster_home" / "dagster.yaml").unlink()
    for name in POSTGRES_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_PG_HOST", "127.0.0.1")
    monkeypatch.setenv("CINESEQ_INSTANCE", "postgres")
    assert cli.main(["run", "--films", "showcase", "--no-forecast"]) == 2
    error = capsys.readouterr().err
    assert "DAGSTER_PG_PORT, DAGSTER_PG_DB, DAGSTER_PG_USERNAME, DAGSTER_PG_PASSWORD are not set" in error
    assert "DAGSTER_PG_HOST," not in error.split("are not set")[0]

    monkeypatch.setenv("CINESEQ_INSTANCE", "mysql")
    assert cli.main(["run", "--films", "showcase"]) == 2
    assert "CINESEQ_INSTANCE='mysql': choose sqlite (the default) or postgres" in capsys.readouterr().err
