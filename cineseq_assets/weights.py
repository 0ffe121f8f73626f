"""Model weights stored without pickle: a Parquet table (name, shape, dtype, values) whose file
metadata holds the model's config and metrics as JSON. Any Parquet reader can inspect it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .storage import write_atomic

_META_KEY = b"cineseq"


def write_weights(path: Path, state: dict[str, np.ndarray], config: dict, metrics: dict | None = None) -> Path:
    """Write ``state`` (name -> array) with ``config`` and ``metrics``, atomically."""
    names = list(state)
    arrays = [np.asarray(state[n]) for n in names]
    table = pa.table({
        "name": names,
        "shape": [list(a.shape) for a in arrays],
        "dtype": [str(a.dtype) for a in arrays],
        "values": [a.astype(np.float64).ravel().tolist() for a in arrays],  # exact for float32 and small ints
    })
    meta = json.dumps({"config": config, "metrics": metrics or {}}, default=json_default).encode()
    table = table.replace_schema_metadata({_META_KEY: meta})
    return write_atomic(Path(path), lambda tmp: pq.write_table(table, tmp))


def read_metadata(path: Path) -> tuple[dict, dict]:
    """(config, metrics) of a weights file, from its schema alone (the tensors are not read)."""
    meta = json.loads((pq.read_schema(path).metadata or {}).get(_META_KEY, b"{}"))
    return meta.get("config", {}), meta.get("metrics", {})


def read_weights(path: Path) -> tuple[dict[str, np.ndarray], dict, dict]:
    """(state, config, metrics) as written by ``write_weights``."""
    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
    columns = table.to_pydict()
    state = {
        name: np.asarray(values, dtype=np.float64).astype(dtype).reshape(shape)
        for name, shape, dtype, values in zip(columns["name"], columns["shape"], columns["dtype"], columns["values"])
    }
    return state, meta.get("config", {}), meta.get("metrics", {})


def json_default(value):
    """``json.dumps(default=...)`` for what models store: numpy scalars and arrays, paths."""
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
