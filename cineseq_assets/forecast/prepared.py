"""The prepared windows of one training run on disk, so that they are built once (by the
training_windows asset) and trained on by the forecast_model asset, without pickle.

Layout of the folder: ``<split>.npz`` (the arrays of ``Windows``, read with ``allow_pickle=False``) and
``prepared.json`` (the film split, the pooled retention, the scalers, the feature schema and the
settings the windows were built with, which the training run must share).
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ModelError
from ..storage import write_bytes_atomic
from .decay_prior import PooledRetention
from .features import FeatureSchema
from .scaling import Scalers
from .train import PreparedData, TrainConfig
from .windows import Windows

SPLITS = ("train", "validation", "test")
MANIFEST = "prepared.json"
HINT = "Materialize training_windows again (with the same config as forecast_model)."


def preparation_settings(config: TrainConfig) -> dict:
    """The TrainConfig fields that shape the windows (JSON-ready): a model must be trained with these."""
    return {"encoder_length": config.encoder_length, "max_train_origin": config.max_train_origin,
            "eval_origins": list(config.eval_origins), "prior": asdict(config.prior)}


def save_prepared(data: PreparedData, config: TrainConfig, folder: Path) -> Path:
    """Write ``data`` (prepared with ``config``) into ``folder``; every file atomically, the manifest last."""
    folder = Path(folder)
    for split in SPLITS:
        write_bytes_atomic(_npz(getattr(data, split)), folder / f"{split}.npz")
    manifest = {
        "settings": preparation_settings(config),
        "split": {str(film): str(split) for film, split in data.split.items()},
        "pooled_retention": data.pooled.to_dict(),
        "scalers": data.scalers.to_dict(),
        "feature_schema": data.schema.to_dict(),
    }
    return write_bytes_atomic(json.dumps(manifest).encode(), folder / MANIFEST)


def load_prepared(folder: Path, config: TrainConfig) -> PreparedData:
    """The data saved by ``save_prepared``; an error naming the difference when ``config`` or this
    version's features would build other windows."""
    folder = Path(folder)
    if not (folder / MANIFEST).exists():
        raise ModelError(folder, "no prepared training windows", "Materialize training_windows first.")
    manifest = json.loads((folder / MANIFEST).read_text())
    expected = preparation_settings(config)
    differs = {k: (manifest["settings"].get(k), v) for k, v in expected.items() if manifest["settings"].get(k) != v}
    if differs:
        listed = ", ".join(f"{k} {stored!r} there, {wanted!r} here" for k, (stored, wanted) in differs.items())
        raise ModelError(folder, f"the windows were prepared with other settings ({listed})", HINT)
    if manifest["feature_schema"] != FeatureSchema().to_dict():
        raise ModelError(folder, "the windows were prepared with another version's features", HINT)
    windows = {split: load_windows(folder, split) for split in SPLITS}
    return PreparedData(split=pd.Series(manifest["split"], name="split"),
                        pooled=PooledRetention.from_dict(manifest["pooled_retention"]),
                        scalers=Scalers.from_dict(manifest["scalers"]), **windows)


def _npz(windows: Windows) -> bytes:
    arrays = {f.name: getattr(windows, f.name) for f in fields(Windows)}
    arrays["film_id"] = arrays["film_id"].astype(str)  # object arrays would need pickle
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def load_windows(folder: Path, split: str) -> Windows:
    """One split's windows as ``save_prepared`` stored them (a probe batch needs no more)."""
    with np.load(Path(folder) / f"{split}.npz", allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["film_id"] = arrays["film_id"].astype(object)  # as build_windows makes it
    return Windows(**arrays)
