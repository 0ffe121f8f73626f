"""Parquet storage: ``<root>/<asset>/<partition>.parquet`` (``<root>/<asset>.parquet`` unpartitioned), and
side files (model folders, plots, thumbnails) under ``<root>/<asset>/``.

Every file is written by ``write_atomic``: into a hidden temporary file in the same folder, renamed
into place (an atomic rename on POSIX), so an interrupted or failed write leaves the previous file
intact. Reading needs nothing but pandas, so the demo and notebooks can read what Dagster materialized.

``Storage`` is the one place that knows the layout under a root; Dagster's IO manager and the
artifact-store resource (resources.py) are configured with the same root, and the demo and the
CLI find the default root through ``Storage.default()``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import StoredFileError
from .processes import running
from .settings import storage_dir

_TEMP_SUFFIX = ".tmp"
READ_THREADS = 4


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)``, then rename the temporary file onto ``path``.

    A failed ``write`` removes its temporary file and leaves ``path`` as it was. A killed process
    cannot clean up: its temporary file stays, hidden (``.<name>.<pid>.<token>.tmp``, never read as
    data) until ``remove_stale_temporaries`` removes it (the IO manager does, once per output).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{_TEMP_SUFFIX}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def umask_file_mode() -> int:
    """The mode a new file gets from ``open`` under this process's umask (0644 under umask 022): for a
    file made by ``mkstemp``, which is always 0600, once it is moved into place as ordinary data."""
    try:  # Linux shows the umask without changing it (os.umask can only be read by setting it)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    current = os.umask(0o022)
    os.umask(current)
    return 0o666 & ~current


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files in ``folder`` whose writer no longer runs (killed mid-write).

    Not done on every write: listing a folder of thousands of partitions for each of them would
    cost more than the writes. A temporary file of a running writer is left alone.
    """
    removed = []
    for leftover in Path(folder).glob(f".*{_TEMP_SUFFIX}"):
        pid = leftover.name.removesuffix(_TEMP_SUFFIX).split(".")[-2]
        if pid.isdigit() and not running(int(pid)):
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as Parquet (no index) through ``write_atomic``."""
    return write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """The bytes ``write_parquet_atomic`` writes for ``frame``: made where the frame is computed (a Dask
    worker), written by whoever owns the storage (``write_bytes_atomic``)."""
    return frame.to_parquet(None, index=False)


def frames_from_parquet_bytes(encoded: list[bytes], columns: list[str] | None = None) -> pd.DataFrame:
    """``parquet_bytes`` of several frames, one after the other, as one frame (only ``columns`` when given)."""
    if not encoded:
        return pd.DataFrame()
    return _together([pq.read_table(pa.BufferReader(data), columns=columns) for data in encoded])


def parquet_rows(data: bytes) -> int:
    """The rows in ``parquet_bytes``, from its footer."""
    return pq.ParquetFile(pa.BufferReader(data)).metadata.num_rows


def write_bytes_atomic(data: bytes, path: Path) -> Path:
    """``data`` through ``write_atomic`` (plots, JSON, ONNX files beside a table)."""
    return write_atomic(path, lambda tmp: Path(tmp).write_bytes(data))


@dataclass(frozen=True)
class Storage:
    """The files under one storage root."""

    root: Path

    @classmethod
    def default(cls) -> "Storage":
        """The user's storage: ``$CINESEQ_STORAGE`` or ``<project>/storage``."""
        return cls(storage_dir())

    def asset_file(self, asset: str, partition: str | None = None) -> Path:
        return asset_path(asset, partition, self.root)

    def folder(self, asset: str) -> Path:
        """The folder of an asset's partitions and side files: ``<root>/<asset>``."""
        return self.root / asset

    def read(self, asset: str, partition: str | None = None) -> pd.DataFrame:
        return read_asset(asset, partition, self.root)

    def read_partitions(self, asset: str, partitions: list[str] | None = None) -> pd.DataFrame:
        return read_partitions(asset, partitions, self.root)

    def read_readable_partitions(self, asset: str, partitions: list[str] | None = None
                                 ) -> tuple[pd.DataFrame, list[StoredFileError]]:
        return read_readable_partitions(asset, partitions, self.root)

    def remove_stale_temporaries(self) -> list[Path]:
        """``remove_stale_temporaries`` in every folder under the root (after a killed run)."""
        return [removed for folder, _, _ in os.walk(self.root) for removed in remove_stale_temporaries(Path(folder))]

    def unreadable(self, asset: str, partitions: list[str] | None = None) -> list[StoredFileError]:
        """The stored files of ``asset`` (the given partitions, or the unpartitioned file) that cannot be
        read; files never written are not listed (missing is Dagster's status, not damage)."""
        keys = [None] if partitions is None else partitions
        found = []
        for key in keys:
            path = self.asset_file(asset, key)
            try:
                problem = _incomplete_parquet(path)
            except FileNotFoundError:
                continue
            except OSError as error:
                problem = _reason(error)
            if problem:
                found.append(StoredFileError(path, asset, key, problem))
        return found


def asset_path(asset: str, partition: str | None = None, root: Path | None = None) -> Path:
    root = Path(root) if root is not None else storage_dir()
    return root / asset / f"{partition}.parquet" if partition is not None else root / f"{asset}.parquet"


def read_asset(asset: str, partition: str | None = None, root: Path | None = None) -> pd.DataFrame:
    path = asset_path(asset, partition, root)
    if not path.exists():
        what = f"partition {partition!r} of {asset!r}" if partition else f"{asset!r}"
        raise FileNotFoundError(f"{path} does not exist: materialize {what} first (cineseq run, or the Dagster UI).")
    return read_parquet_file(path, asset, partition)


# What pyarrow raises for a file that is not (or no longer) Parquet: ArrowInvalid is a ValueError, a
# truncated read an OSError; other Arrow errors share only ArrowException.
_UNREADABLE = (OSError, ValueError, pa.ArrowException)


_MAGIC = b"PAR1"


def _incomplete_parquet(path: Path) -> str | None:
    """Why ``path`` is not a whole Parquet file, from its first and last bytes (a truncated or overwritten
    file loses its closing magic and footer first), or None. A few bytes read per file rather than the
    footer parsed: a second ``cineseq run`` checks thousands of films; a file damaged inside its footer
    still fails its read with a StoredFileError naming it."""
    with open(path, "rb") as file:
        head = file.read(4)
        size = file.seek(0, os.SEEK_END)
        if size < 12 or head != _MAGIC:
            return f"not a Parquet file ({size} bytes, starting {head!r})"
        file.seek(size - 8)
        tail = file.read(8)
    footer = int.from_bytes(tail[:4], "little")
    if tail[4:] != _MAGIC or footer + 12 > size:
        return f"incomplete Parquet file ({size} bytes): its footer is missing or cut"
    return None


def _reason(error: Exception) -> str:
    return str(error).splitlines()[0][:300] if str(error) else type(error).__name__


def read_parquet_file(path: Path, asset: str, partition: str | None = None) -> pd.DataFrame:
    """One stored file; a ``StoredFileError`` naming it, its asset and partition, and how to rebuild it,
    when it exists but cannot be read (pyarrow's own errors name neither)."""
    with _named_read_errors(path, asset, partition):
        return pd.read_parquet(path)


@contextmanager
def _named_read_errors(path: Path, asset: str, partition: str | None) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        raise
    except _UNREADABLE as error:
        raise StoredFileError(path, asset, partition, _reason(error)) from error


def read_partitions(asset: str, partitions: list[str] | None = None, root: Path | None = None) -> pd.DataFrame:
    """Concatenate the stored partitions of ``asset`` (all of them when ``partitions`` is None).

    Partitions that were never materialized are skipped; the caller decides whether that matters.
    A stored partition that cannot be read raises ``StoredFileError`` (``read_readable_partitions`` skips it).
    """
    frame, unreadable = read_readable_partitions(asset, partitions, root)
    if unreadable:
        raise unreadable[0]
    return frame


def read_readable_partitions(asset: str, partitions: list[str] | None = None, root: Path | None = None
                             ) -> tuple[pd.DataFrame, list[StoredFileError]]:
    """``read_partitions`` that leaves out the stored partitions it cannot read, and returns why for each,
    so that one damaged film does not hold an aggregate of every other film hostage."""
    folder = asset_path(asset, "x", root).parent
    if partitions is None:
        paths = sorted(folder.glob("*.parquet"))
    else:
        paths = [p for p in (folder / f"{key}.parquet" for key in partitions) if p.exists()]
    with ThreadPoolExecutor(READ_THREADS) as pool:  # pyarrow reads without the GIL
        read = list(pool.map(lambda path: _read_table(path, asset), paths))
    tables = [table for table in read if isinstance(table, pa.Table)]
    unreadable = [error for error in read if isinstance(error, StoredFileError)]
    if not tables:
        return pd.DataFrame(), unreadable
    return _together(tables), unreadable


def _together(tables: list[pa.Table]) -> pd.DataFrame:
    """The tables one after the other, converted to pandas once: converting each file cost more than
    reading it. A column with no value in one film may be stored with another type there (pandas writes
    an all-NaN text column as double): it takes the type of the others. Types that still disagree (a
    file written by other code) are left to pandas, film by film, as it would concatenate them."""
    try:
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()
    except pa.ArrowException:
        pass
    types: dict[str, set] = {}
    for table in tables:
        for column in table.schema:
            types.setdefault(column.name, set()).add(column.type)
    mixed = {name for name, kinds in types.items() if len(kinds) > 1}
    try:
        return pa.concat_tables([_nulls_untyped(table, mixed) for table in tables], promote_options="permissive").to_pandas()
    except pa.ArrowException:
        return pd.concat([table.to_pandas() for table in tables], ignore_index=True)


def _nulls_untyped(table: pa.Table, names: set[str]) -> pa.Table:
    for index, column in enumerate(table.schema):
        if column.name in names and table.column(index).null_count == len(table):
            table = table.set_column(index, column.name, pa.nulls(len(table)))
    return table


def _read_table(path: Path, asset: str) -> pa.Table | StoredFileError:
    """The partition's table, or why it cannot be read (returned: the other films are still read)."""
    try:
        with _named_read_errors(path, asset, path.stem):
            return pq.read_table(path)
    except StoredFileError as error:
        return error


def stored_partitions(asset: str, root: Path | None = None) -> list[str]:
    folder = asset_path(asset, "x", root).parent
    return sorted(p.stem for p in folder.glob("*.parquet"))
