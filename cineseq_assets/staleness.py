"""Which assets and film partitions ``cineseq run`` must recompute, by Dagster's own stale status.

Every asset has a code version (a hash of the code it runs, see versions.py), and every
materialization records it with the data versions of its inputs. Dagster's stale status (the
"stale" badge of its UI) compares both with the current ones: a partition is MISSING, STALE (its
code or an input changed since) or FRESH. Dagster does not follow edges from more than 100
upstream partitions (an aggregate over every film), so an aggregate is also recomputed when one
of its per-film inputs was materialized after it.

The resolver is not exported by Dagster; this module is its only user, and tests/test_staleness.py
fails on a Dagster version other than the pinned one so that an upgrade re-checks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

import dagster as dg
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.definitions.temporal_context import TemporalContext

NEEDS_WORK = (StaleStatus.MISSING, StaleStatus.STALE)


class Staleness:
    """Stale status on ``instance`` as of now: make a new one after materializing anything."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self._graph = defs.resolve_asset_graph()
        self._instance = instance
        view = AssetGraphView(temporal_context=TemporalContext(effective_dt=datetime.now(timezone.utc), last_event_id=None),
                              instance=instance, asset_graph=self._graph)
        self._resolver = CachingStaleStatusResolver(instance=instance, asset_graph=self._graph, loading_context=view)

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
