"""Dagster storage that keeps its database connections: the local SQLite event log and the PostgreSQL
storage, both cheap enough for a per-film backfill of every film.

**SQLite.** A backfill of every film writes two events per film and asset (planned, materialized). Dagster's
SQLite event log opens a new engine and connection for each statement and syncs every commit to
disk, which makes those events cost more than the science. This subclass keeps one engine per
process (a connection pool) and uses WAL with ``synchronous=NORMAL``: a commit survives an
application crash, and only the last transactions can be lost on a power cut, which for a local
development instance is the right trade (SQLite's documentation recommends it for WAL mode).

**PostgreSQL.** dagster-postgres opens a new connection for every statement (``NullPool``), so that
many instances in one process never pile up connections. With password authentication (SCRAM) a
connection costs about 7 ms on 127.0.0.1 against 0.1 ms for the statement, and each event takes
several statements: the connections cost more than the events. ``PooledPostgresStorage`` keeps two
connections per storage (runs, event log, schedules) and process, with overflow for threads, as
dagster-webserver does for itself (``optimize_for_webserver``, which keeps one); cineseq opens one
instance per process. Like the SQLite class it sets a private attribute (the engine), so the
Dagster pin is checked by the tests.
"""

from contextlib import contextmanager

import sqlalchemy as db
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

# Connections each PostgreSQL storage keeps open (see PooledPostgresStorage).
KEPT_CONNECTIONS = 2
# A pooled connection older than this is replaced (servers and proxies drop idle connections).
POOL_RECYCLE_SECONDS = 3600
# Connections a storage may open beyond its one kept connection while threads overlap; closed when returned.
POOL_MAX_OVERFLOW = 4


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """``ConsolidatedSqliteEventLogStorage`` with a pooled engine and ``synchronous=NORMAL``."""

    _engine = None

    def _pooled_engine(self):
        if self._engine is None:
            engine = db.create_engine(
                self._conn_string,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            db.event.listen(engine, "connect", _tune_connection)
            self._engine = engine
        return self._engine

    @contextmanager
    def _connect(self):
        with self._pooled_engine().connect() as conn:
            with conn.begin():
                yield conn


def _tune_connection(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class PooledPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` whose run, event-log and schedule storages each keep connections open."""

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        token_provider = get_token_provider_from_config(config_value)
        storage = cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=token_provider,
        )
        for part in (storage.run_storage, storage.event_log_storage, storage.schedule_storage):
            # What optimize_for_webserver does, less its statement timeout and with two kept connections: the event
            # log asks whether a table exists on a second connection while it writes an asset event on the first.
            part._engine = create_pg_engine(part.postgres_url, token_provider, isolation_level="AUTOCOMMIT",
                                            pool_size=KEPT_CONNECTIONS, max_overflow=POOL_MAX_OVERFLOW,
                                            pool_recycle=POOL_RECYCLE_SECONDS)
        return storage
