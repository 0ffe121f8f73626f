"""Dagster IO manager over ``storage.py``: one Parquet file per asset partition, written atomically."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import dagster as dg
import pandas as pd

from .storage import (
    Storage,
    frames_from_parquet_bytes,
    parquet_rows,
    remove_stale_temporaries,
    write_bytes_atomic,
    write_parquet_atomic,
)

PREVIEW_ROWS = 5
# Input metadata, as Dagster's UPathIOManager spells it: partitions never materialized are skipped
# instead of failing the load (optional inputs, and per-film inputs whose film fails alone).
ALLOW_MISSING_PARTITIONS = "allow_missing_partitions"


def image_metadata(name: str, png: bytes, media_type: str = "image/png") -> dg.MetadataValue:
    """An image (PNG unless said) as asset metadata: Dagster's UI renders markdown images, inline data URIs included."""
    return dg.MetadataValue.md(f"![{name}](data:{media_type};base64,{base64.b64encode(png).decode()})")


def svg_metadata(name: str, svg: bytes) -> dg.MetadataValue:
    return image_metadata(name, svg, "image/svg+xml")


def table_metadata(frame: pd.DataFrame, path) -> dict:
    """Row count, columns, path and a preview, recorded with every materialization."""
    preview = frame.head(PREVIEW_ROWS)
    shown = preview.iloc[:, :12]  # a readable preview: the key columns come first
    return {
        "rows": dg.MetadataValue.int(len(frame)),
        "columns": dg.MetadataValue.int(frame.shape[1]),
        "column_names": dg.MetadataValue.text(", ".join(map(str, frame.columns))),
        "path": dg.MetadataValue.path(str(path)),
        "preview": dg.MetadataValue.md(shown.to_markdown(index=False) if len(shown) else "(empty)"),
    }


@dataclass
class StoredFilms:
    """A per-film asset's output whose partitions were written as each film arrived (``write_partition``,
    while the cluster computed the next films): the IO manager records them and writes nothing again.
    Each film's part is its table, or the Parquet bytes a worker encoded, decoded only when asked for."""

    paths: dict[str, Path]  # film -> its written file, in partition order
    parts: dict[str, pd.DataFrame | bytes]  # film -> its table or its storage.parquet_bytes

    @cached_property
    def table(self) -> pd.DataFrame:
        """Every film's rows."""
        return self.columns(None)

    def columns(self, names: list[str] | None) -> pd.DataFrame:
        """Every film's rows, only the columns ``names`` (all when None): cheap on encoded parts."""
        parts = [self.parts[film] for film in self.paths]
        if parts and isinstance(parts[0], bytes):
            return frames_from_parquet_bytes(parts, names)
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        return frame if names is None else frame[names]

    def metadata(self) -> dict:
        first_film, first = next(iter(self.paths)), next(iter(self.paths.values()))
        sample = self.parts[first_film]
        sample = frames_from_parquet_bytes([sample]) if isinstance(sample, bytes) else sample
        parts = [self.parts[film] for film in self.paths]
        rows = sum(parquet_rows(part) if isinstance(part, bytes) else len(part) for part in parts)
        metadata = table_metadata(sample, first if len(self.paths) == 1 else first.parent)
        return {**metadata, "rows": dg.MetadataValue.int(rows), "partitions": dg.MetadataValue.int(len(self.paths))}


class ParquetIOManager(dg.ConfigurableIOManager):
    """``<base_dir>/<asset>/<partition>.parquet``; the output of a run over several film partitions is
    ``StoredFilms``, already written film by film."""

    base_dir: str

    @property
    def storage(self) -> Storage:
        return Storage(Path(self.base_dir))

    def write_partition(self, asset: str, partition: str | None, frame: pd.DataFrame | bytes) -> Path:
        """One partition's file (the whole asset's when ``partition`` is None): a frame, or its
        ``storage.parquet_bytes`` made elsewhere; returns its path."""
        path = self.storage.asset_file(asset, partition)
        return write_bytes_atomic(frame, path) if isinstance(frame, bytes) else write_parquet_atomic(frame, path)

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | None) -> None:
        if obj is None:
            return
        if isinstance(obj, StoredFilms):
            missing = sorted(set(context.asset_partition_keys) - set(obj.paths))
            if missing:
                raise dg.Failure(f"{context.asset_key.to_user_string()}: partitions {missing[:5]} of this run were not written.")
            context.add_output_metadata(obj.metadata())
            return
        name = context.asset_key.path[-1]
        if not context.has_asset_partitions:
            context.add_output_metadata(table_metadata(obj, self.write_partition(name, None, obj)))
            return
        remove_stale_temporaries(self.storage.folder(name))
        keys = context.asset_partition_keys
        if len(keys) != 1:  # a range of films is written film by film as it computes (partitions.materialize_films)
            raise dg.Failure(f"{name}: a run over {len(keys)} partitions returned one table; per-film assets return "
                             "partitions.materialize_films' StoredFilms. Nothing was written.")
        context.add_output_metadata(table_metadata(obj, self.write_partition(name, keys[0], obj)))

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        name = context.asset_key.path[-1]
        if not context.has_asset_partitions:
            return self.storage.read(name)
        keys = list(context.asset_partition_keys)
        allow_missing = bool((context.definition_metadata or {}).get(ALLOW_MISSING_PARTITIONS, False))
        if not allow_missing:
            missing = [key for key in keys if not self.storage.asset_file(name, key).exists()]
            if missing:
                raise FileNotFoundError(f"{self.storage.folder(name)}: no partition {', '.join(missing[:5])} of {name!r}: "
                                        f"materialize {name} for {len(missing)} film(s) first (cineseq run, or the Dagster UI).")
            return self.storage.read_partitions(name, keys)
        # An input that tolerates missing films tolerates a damaged one the same way: left out, said
        # loudly, so that one bad file does not hold every other film's aggregate hostage.
        frame, unreadable = self.storage.read_readable_partitions(name, keys)
        for error in unreadable:
            context.log.warning(f"left out of this run: {error}")
        return frame


def stored_films(asset: str, every_film: bool = False) -> dg.AssetIn:
    """An input of ``asset``'s stored per-film partitions: the run's own films (identity mapping), or
    with ``every_film`` all of them (into an aggregate). Films never materialized are left out: the
    asset decides whether that matters (a per-film asset fails that film alone)."""
    mapping = dg.AllPartitionMapping() if every_film else None
    return dg.AssetIn(key=dg.AssetKey(asset), partition_mapping=mapping, metadata={ALLOW_MISSING_PARTITIONS: True})
