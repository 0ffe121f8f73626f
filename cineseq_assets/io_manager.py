"""Dagster IO manager over ``storage.py``: one Parquet file per asset partition, written atomically."""

from __future__ import annotations

import base64

import dagster as dg
import pandas as pd

from .storage import asset_path, read_partitions, write_parquet_atomic

PREVIEW_ROWS = 5


def image_metadata(name: str, png: bytes) -> dg.MetadataValue:
    """A PNG as asset metadata: Dagster's UI renders markdown images, inline data URIs included."""
    return dg.MetadataValue.md(f"![{name}](data:image/png;base64,{base64.b64encode(png).decode()})")


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


class ParquetIOManager(dg.ConfigurableIOManager):
    """``<base_dir>/<asset>/<partition>.parquet``; a multi-partition output is split by ``film_id``
    (or ``date`` for daily partitions) into one file per partition."""

    base_dir: str

    def _asset_name(self, context) -> str:
        return context.asset_key.path[-1]

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | None) -> None:
        if obj is None:
            return
        name = self._asset_name(context)
        if not context.has_asset_partitions:
            path = write_parquet_atomic(obj, asset_path(name, root=self.base_dir))
            context.add_output_metadata(table_metadata(obj, path))
            return
        keys = context.asset_partition_keys
        if len(keys) == 1:
            path = write_parquet_atomic(obj, asset_path(name, keys[0], root=self.base_dir))
            context.add_output_metadata(table_metadata(obj, path))
            return
        by_film = dict(tuple(obj.groupby("film_id", sort=False)))
        missing = [key for key in keys if key not in by_film]
        if missing:
            raise dg.Failure(f"{name}: no rows for partitions {missing[:5]} of this run; nothing was written for them.")
        for key in keys:
            write_parquet_atomic(by_film[key].reset_index(drop=True), asset_path(name, key, root=self.base_dir))
        metadata = table_metadata(obj, asset_path(name, keys[0], root=self.base_dir).parent)
        metadata["partitions"] = dg.MetadataValue.int(len(keys))
        context.add_output_metadata(metadata)

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        name = self._asset_name(context)
        if not context.has_asset_partitions:
            return pd.read_parquet(asset_path(name, root=self.base_dir))
        return read_partitions(name, list(context.asset_partition_keys), root=self.base_dir)
