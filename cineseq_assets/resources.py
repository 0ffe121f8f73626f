"""Resources shared by several stages: the artifact store (side files under the storage root), where
the trailers are, and where per-film work runs (Dask). Definitions builds them; assets receive them as
parameters."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import PrivateAttr

from .dask_engine import RETRIES, SCHEDULER_ENV, WORKERS_ENV, open_client
from .errors import CineSeqError
from .media.trailer_files import read_manifest, trailer_path
from .storage import Storage, write_bytes_atomic, write_parquet_atomic


class ArtifactStore(dg.ConfigurableResource):
    """The storage root's side files: model folders, ONNX exports, plots, thumbnails, JSON.

    Asset tables go through the Parquet IO manager, which Definitions configures with the same
    ``base_dir``; this resource writes what sits beside them, atomically.
    """

    base_dir: str

    @classmethod
    def default(cls) -> "ArtifactStore":
        return cls(base_dir=str(Storage.default().root))

    @property
    def storage(self) -> Storage:
        return Storage(Path(self.base_dir))

    @property
    def root(self) -> Path:
        return self.storage.root

    def folder(self, asset: str) -> Path:
        """``<root>/<asset>``: the side files of ``asset`` (its partitions' Parquet files, if any, too)."""
        return self.storage.folder(asset)

    def path(self, asset: str, *parts: str) -> Path:
        return self.folder(asset).joinpath(*parts)

    def write_bytes(self, data: bytes, asset: str, *parts: str) -> Path:
        return write_bytes_atomic(data, self.path(asset, *parts))

    def write_table(self, frame: pd.DataFrame, asset: str, *parts: str) -> Path:
        return write_parquet_atomic(frame, self.path(asset, *parts))


class TrailerSource(dg.ConfigurableResource):
    """Where trailers are: a manifest CSV (``film_id, path``) and/or a folder of ``<film_id>.<ext>``."""

    manifest: str | None = None
    folder: str | None = None
    _entries: dict | None = PrivateAttr(default=None)

    @classmethod
    def from_environment(cls) -> "TrailerSource":
        return cls(manifest=os.environ.get("CINESEQ_TRAILER_MANIFEST"), folder=os.environ.get("CINESEQ_TRAILER_DIR"))

    def path_for(self, film_id: str) -> Path | None:
        if self._entries is None:
            self._entries = read_manifest(self.manifest) if self.manifest else {}
        return trailer_path(film_id, self._entries, self.folder)


class DaskResource(dg.ConfigurableResource):
    """Where the per-film assets compute their films (dask_engine.py): an existing Dask scheduler, or a
    LocalCluster of this machine's cores started for the step. ``cineseq run`` starts one cluster for
    the whole command and hands its address to every step."""

    scheduler: str | None = None  # tcp://host:8786; None: a LocalCluster
    workers: int | None = None  # LocalCluster worker processes (default: one per core); 0: in this process
    batch_size: int = 10  # films per task (a film of weekly_panel or decay_fit is ~15 ms: one task each cost as much again)
    retries: int = RETRIES

    @classmethod
    def from_environment(cls) -> "DaskResource":
        """``$CINESEQ_DASK_SCHEDULER`` (an address) and ``$CINESEQ_DASK_WORKERS`` (a count), when set."""
        workers = os.environ.get(WORKERS_ENV, "").strip()
        if workers and not workers.isdigit():
            raise CineSeqError(f"{WORKERS_ENV}={workers!r}: give a number of worker processes (0: no cluster).")
        return cls(scheduler=os.environ.get(SCHEDULER_ENV) or None, workers=int(workers) if workers else None)

    @contextmanager
    def client(self, log: Callable[[str], None]) -> Iterator[object | None]:
        """A ``distributed.Client`` (None: compute in this process) for the duration of the block."""
        with open_client(self.scheduler, self.workers, log) as client:
            yield client
