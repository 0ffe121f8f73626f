"""Which assets and film partitions ``cineseq run`` must recompute, by Dagster's own stale status.

Every asset has a code version (a hash of the code it runs, see versions.py), and every
materialization records it with the data versions of its inputs. Dagster's stale status (the
"stale" badge of its UI) compares both with the current ones: a partition is MISSING, STALE (its
code or an input changed since) or FRESH. Dagster does not follow edges from more than 100
upstream partitions (an aggregate over every film), so an aggregate is also recomputed when one
of its per-film inputs was materialized after it.

Dagster's resolver asks the event log for each partition on its own: the latest materialization of
the partition and of each per-film input, one query each, about 20 s for the 2,885 films of the
bundled chart. ``_PrefetchedInstance`` answers those questions from one read per asset instead, so a
second ``cineseq run`` with nothing changed checks every film in a few seconds; the statuses are
Dagster's own (tests/test_runner.py compares them with the resolver reading the instance directly).

The resolver is not exported by Dagster; this module is its only user, and the pin test of
tests/test_dagster_storage.py fails on a Dagster version other than the pinned one so that an upgrade
re-checks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

import dagster as dg
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.definitions.temporal_context import TemporalContext
from dagster._core.event_api import AssetRecordsFilter, EventLogRecord, EventRecordsResult
from dagster._core.events import DagsterEventType
from dagster._core.instance.methods.asset_methods import AssetMethods
from dagster._core.instance.types import DynamicPartitionsStore

NEEDS_WORK = (StaleStatus.MISSING, StaleStatus.STALE)


class Staleness:
    """Stale status on ``instance`` as of now: make a new one after materializing anything."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self._graph = defs.resolve_asset_graph()
        self._instance = instance
        view = AssetGraphView(temporal_context=TemporalContext(effective_dt=datetime.now(timezone.utc), last_event_id=None),
                              instance=instance, asset_graph=self._graph)
        self._resolver = CachingStaleStatusResolver(instance=_PrefetchedInstance(instance), asset_graph=self._graph,
                                                    loading_context=view)

    def assets_to_run(self, assets: Sequence[str], partition: str | None = None) -> list[str]:
        """The assets of ``assets`` (in dependency order) that are missing or stale, and those after
        them in ``assets`` that depend on them (they will see a new input once those are recomputed)."""
        return _with_downstream(assets, self._needs_work(assets, partition), self._parents)

    def films_to_run(self, assets: Sequence[str], films: Iterable[str]) -> dict[tuple[str, ...], list[str]]:
        """Films grouped by the assets each must recompute; fresh films are left out."""
        groups: dict[tuple[str, ...], list[str]] = {}
        for film in films:
            todo = tuple(self.assets_to_run(assets, film))
            if todo:
                groups.setdefault(todo, []).append(film)
        return groups

    def _needs_work(self, assets: Sequence[str], partition: str | None) -> set[str]:
        return {name for name in assets if self._resolver.get_status(dg.AssetKey(name), partition) in NEEDS_WORK
                or (partition is None and self._has_newer_partitioned_input(name))}

    def _has_newer_partitioned_input(self, name: str) -> bool:
        key = dg.AssetKey(name)
        inputs = [parent for parent in self._graph.get(key).parent_keys if self._graph.get(parent).is_partitioned]
        latest = self._latest_storage_ids([key, *inputs])
        return any(latest.get(parent, 0) > latest.get(key, 0) for parent in inputs)

    def _latest_storage_ids(self, keys: list[dg.AssetKey]) -> dict[dg.AssetKey, int]:
        records = self._instance.get_asset_records(keys)
        return {record.asset_entry.asset_key: record.asset_entry.last_materialization_record.storage_id
                for record in records if record.asset_entry.last_materialization_record}

    def _parents(self, name: str) -> set[str]:
        return {key.to_user_string() for key in self._graph.get(dg.AssetKey(name)).parent_keys}


def _with_downstream(assets: Sequence[str], stale: set[str], parents) -> list[str]:
    chosen: list[str] = []
    for name in assets:
        if name in stale or parents(name) & set(chosen):
            chosen.append(name)
    return chosen


class _PrefetchedInstance(DynamicPartitionsStore):
    """``instance`` as the stale-status resolver reads it, with the one question it asks per partition,
    "the latest materialization of partition P of asset A" (optionally after a storage id), answered
    from the latest materialization of every partition of A, read once; everything else is the instance's.

    A snapshot: make a new one (a new Staleness) after materializing anything.
    """

    BATCH = 500  # storage ids per query (SQLite limits the variables of a statement)

    def __init__(self, instance: dg.DagsterInstance):
        self._instance = instance
        self._latest: dict[dg.AssetKey, dict[str, EventLogRecord]] = {}

    def __getattr__(self, name: str):
        return getattr(self._instance, name)

    # the partitions store Dagster checks the resolver's instance to be: the instance's own answers
    def get_dynamic_partitions(self, partitions_def_name: str):
        return self._instance.get_dynamic_partitions(partitions_def_name)

    def get_paginated_dynamic_partitions(self, *args, **kwargs):
        return self._instance.get_paginated_dynamic_partitions(*args, **kwargs)

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        return self._instance.has_dynamic_partition(partitions_def_name, partition_key)

    def get_dynamic_partitions_definition_id(self, partitions_def_name: str) -> str:
        return self._instance.get_dynamic_partitions_definition_id(partitions_def_name)

    def fetch_materializations(self, records_filter, limit: int, cursor: str | None = None,
                               ascending: bool = False) -> EventRecordsResult:
        if not self._is_latest_of_one_partition(records_filter, limit, cursor, ascending):
            return self._instance.fetch_materializations(records_filter, limit, cursor, ascending)
        latest = self._latest_by_partition(records_filter.asset_key).get(records_filter.asset_partitions[0])
        if latest is not None and records_filter.before_storage_id is not None \
                and latest.storage_id >= records_filter.before_storage_id:
            return self._instance.fetch_materializations(records_filter, limit, cursor, ascending)  # an older one
        after = records_filter.after_storage_id
        found = latest is not None and (after is None or latest.storage_id > after)
        return EventRecordsResult(records=[latest] if found else [], cursor="", has_more=False)

    def get_latest_data_version_record(self, *args, **kwargs) -> EventLogRecord | None:
        # Dagster's own method, reading through fetch_materializations above.
        return AssetMethods.get_latest_data_version_record(self, *args, **kwargs)

    @staticmethod
    def _is_latest_of_one_partition(records_filter, limit: int, cursor: str | None, ascending: bool) -> bool:
        return (isinstance(records_filter, AssetRecordsFilter) and limit == 1 and cursor is None and not ascending
                and records_filter.asset_partitions is not None and len(records_filter.asset_partitions) == 1
                and records_filter.storage_ids is None and records_filter.tags is None
                and records_filter.after_timestamp is None and records_filter.before_timestamp is None)

    def _latest_by_partition(self, key: dg.AssetKey) -> dict[str, EventLogRecord]:
        if key not in self._latest:
            storage_ids = list(self._instance.event_log_storage.get_latest_storage_id_by_partition(
                key, DagsterEventType.ASSET_MATERIALIZATION).values())
            records = {}
            for start in range(0, len(storage_ids), self.BATCH):
                batch = storage_ids[start: start + self.BATCH]
                result = self._instance.fetch_materializations(AssetRecordsFilter(asset_key=key, storage_ids=batch),
                                                               limit=len(batch))
                records.update((record.partition_key, record) for record in result.records)
            self._latest[key] = records
        return self._latest[key]
