"""A faster SQLite event log for the project's local Dagster instance (the PostgreSQL instance's
counterpart is dagster_postgres_storage.py, apart because dagster-postgres is an optional extra).

A backfill of every film writes two events per film and asset (planned, materialized). Dagster's
SQLite event log opens a new engine and connection for each statement and syncs every commit to
disk, which makes those events cost more than the science. This subclass keeps one engine per
process (a connection pool) and uses WAL with ``synchronous=NORMAL``: a commit survives an
application crash, and only the last transactions can be lost on a power cut, which for a local
development instance is the right trade (SQLite's documentation recommends it for WAL mode).
"""

from contextlib import contextmanager

import sqlalchemy as db
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS


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

