"""The PostgreSQL instance's storage, keeping its database connections (named by dagster_postgres.yaml;
a module of its own because dagster-postgres is the optional ``postgres`` extra).

dagster-postgres opens a new connection for every statement (``NullPool``), so that
many instances in one process never pile up connections. With password authentication (SCRAM) a
connection costs about 7 ms on 127.0.0.1 against 0.1 ms for the statement, and each event takes
several statements: the connections cost more than the events. ``PooledPostgresStorage`` keeps two
connections per storage (runs, event log, schedules) and process, with overflow for threads, as
dagster-webserver does for itself (``optimize_for_webserver``, which keeps one); cineseq opens one
instance per process. Like the SQLite event log (dagster_storage.py) it relies on a private attribute (the engine);
tests/test_postgres_instance.py checks the behaviour on a real server.

Its event log also keeps the list of film partitions in memory, as the SQLite one does
(``dagster_storage.PartitionListCache``): Dagster reads the whole list three times for each film whose
partition gets metadata of its own, 2.6 ms each for the 2,885 films of the bundled chart on 127.0.0.1
(about 23 s of a ``forecasts`` run over every film), against 0.8 ms for the check that it is unchanged.
"""

from dagster_postgres import DagsterPostgresStorage, PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

from .dagster_storage import PartitionListCache

# Connections each storage keeps open: two, see PooledPostgresStorage.from_config_value.
KEPT_CONNECTIONS = 2
# A pooled connection older than this is replaced (servers and proxies drop idle connections).
POOL_RECYCLE_SECONDS = 3600
# Connections a storage may open beyond the kept ones while threads overlap; closed when returned.
POOL_MAX_OVERFLOW = 4


class CachedPartitionsPostgresEventLogStorage(PartitionListCache, PostgresEventLogStorage):
    """dagster-postgres's event log, reading a partition list again only when it changed."""


class PooledPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` whose run, event-log and schedule storages each keep connections open,
    and whose event log keeps the partition lists."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, inst_data=None, token_provider=None):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        self._event_log_storage = CachedPartitionsPostgresEventLogStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider)

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
