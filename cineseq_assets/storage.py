"""Parquet storage: ``storage/<asset>/<partition>.parquet`` (``storage/<asset>.parquet`` unpartitioned).

Writes go to a temporary file in the same folder and are renamed into place (an atomic rename on
POSIX), so an interrupted or failed run leaves the previous file intact. Reading needs nothing but
pandas, so the demo and notebooks can read what Dagster materialized.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from .settings import storage_dir


def asset_path(asset: str, partition: str | None = None, root: Path | None = None) -> Path:
    root = Path(root) if root is not None else storage_dir()
    return root / asset / f"{partition}.parquet" if partition is not None else root / f"{asset}.parquet"


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    os.close(handle)
    try:
        frame.to_parquet(tmp_name, index=False)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def write_bytes_atomic(data: bytes, path: Path) -> Path:
    """Same as ``write_parquet_atomic`` for a file of bytes (plots beside a table)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    with os.fdopen(handle, "wb") as tmp:
        tmp.write(data)
    os.replace(tmp_name, path)
    return path


def read_asset(asset: str, partition: str | None = None, root: Path | None = None) -> pd.DataFrame:
    path = asset_path(asset, partition, root)
    if not path.exists():
        what = f"partition {partition!r} of {asset!r}" if partition else f"{asset!r}"
        raise FileNotFoundError(f"{path} does not exist: materialize {what} first (cineseq run, or the Dagster UI).")
    return pd.read_parquet(path)


def read_partitions(asset: str, partitions: list[str] | None = None, root: Path | None = None) -> pd.DataFrame:
    """Concatenate the stored partitions of ``asset`` (all of them when ``partitions`` is None).

    Partitions that were never materialized are skipped; the caller decides whether that matters.
    """
    folder = asset_path(asset, "x", root).parent
    if partitions is None:
        paths = sorted(folder.glob("*.parquet"))
    else:
        paths = [p for p in (folder / f"{key}.parquet" for key in partitions) if p.exists()]
    frames = [pd.read_parquet(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def stored_partitions(asset: str, root: Path | None = None) -> list[str]:
    folder = asset_path(asset, "x", root).parent
    return sorted(p.stem for p in folder.glob("*.parquet"))
