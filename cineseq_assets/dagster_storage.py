"""A faster SQLite event log for the project's local Dagster instance (the PostgreSQL instance's
counterpart is dagster_postgres_storage.py, apart because dagster-postgres is an optional extra).

A backfill of every film writes two events per film and asset (planned, materialized). Dagster's
SQLite event log opens a new engine and connection for each statement and syncs every commit to
disk, which makes those events cost more than the science. This subclass keeps one engine per
process (a connection pool) and uses WAL with ``synchronous=NORMAL``: a commit survives an
application crash, and only the last transactions can be lost on a power cut, which for a local
development instance is the right trade (SQLite's documentation recommends it for WAL mode).

Dagster also reads the whole list of film partitions again and again while a run goes: three times
for each film whose partition gets metadata of its own (``add_asset_metadata`` checks the film is in
the run's range), about 20 ms each for the 2,885 films of the bundled chart. The list is kept in
memory and read again only when the count, last id or last key of that name has changed, which one
indexed statement tells (another process, the UI or a sensor, may add or delete films at any time).
``PartitionListCache`` does it, for the PostgreSQL event log too.
"""

from collections.abc import Sequence
from contextlib import contextmanager

import sqlalchemy as db
from dagster._core.storage.event_log.schema import DynamicPartitionsTable
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS


class PartitionListCache:
    """An event log's ``get_dynamic_partitions`` kept in memory until the name's partitions change
    (mixed into the SQLite event log here and the PostgreSQL one in dagster_postgres_storage.py)."""

    def get_dynamic_partitions(self, partitions_def_name: str) -> Sequence[str]:
        cached = self._partition_lists.get(partitions_def_name)
        version = self._partitions_version(partitions_def_name)
        if cached is None or cached[0] != version:
            # read after the version: a key added in between makes the next call read the list again
            cached = (version, list(super().get_dynamic_partitions(partitions_def_name)))
            self._partition_lists[partitions_def_name] = cached
        return list(cached[1])  # a copy: callers may change theirs

    @property
    def _partition_lists(self) -> dict[str, tuple[tuple, list[str]]]:
        if "_partition_lists_by_name" not in self.__dict__:
            self.__dict__["_partition_lists_by_name"] = {}
        return self.__dict__["_partition_lists_by_name"]

    def _partitions_version(self, partitions_def_name: str) -> tuple:
        """(count, last id, last key) of the name's partitions, in one statement. An addition takes an id
        after the last one; SQLite gives a deleted last id to the next key added, which the last key tells apart."""
        table = DynamicPartitionsTable
        named = table.c.partitions_def_name == partitions_def_name
        last_id = db.select(db.func.max(table.c.id)).where(named).scalar_subquery()
        last_key = db.select(table.c.partition).where(table.c.id == last_id).scalar_subquery()
        version = db.select(db.func.count(), db.func.max(table.c.id), last_key).select_from(table).where(named)
        with self.index_connection() as conn:
            return tuple(conn.execute(version).one())


class PooledSqliteEventLogStorage(PartitionListCache, ConsolidatedSqliteEventLogStorage):
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

