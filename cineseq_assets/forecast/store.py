"""Saving and loading trained forecasters without pickle, and finding the one that serves.

A model is a Parquet weights table (cineseq_assets.weights) whose metadata holds everything
needed to rebuild it: architecture, model and training configs, the feature schema, the
scalers, the pooled retention, the conformal adjustment and the training metrics. Loading
builds the architecture from this package's code and fills in the arrays: nothing in the file
is executed.

The models live in a model folder (cineseq_assets.model_store) under the storage folder::

    forecast_model/<architecture>.parquet   weights + metadata
    forecast_model/<architecture>.onnx      the same network for onnxruntime
    forecast_model/<architecture>.booster.txt  the gradient-boosted model blended in (LightGBM text format)
    forecast_model/serving.json             which architecture serves, chosen on validation films
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelError
from ..model_store import ModelFolder
from ..weights import read_metadata, read_weights, write_weights
from .boosting import SUFFIX as BOOSTER_SUFFIX
from .boosting import Booster
from .calibration import RecentCalibration
from .decay_prior import PooledRetention, PriorConfig
from .features import FeatureSchema
from .final_total import FinalTotalModel
from .models import ModelConfig, build_model
from .scaling import Scalers
from .train import TrainConfig, TrainedModel

MODEL_DIR = "forecast_model"
# 2: the frame classifier's static features; 3: trained with the market group masked; 4: intra-week
# features and the blended booster
FORMAT_VERSION = 4
TRAIN_HINT = "Materialize forecast_model first: `cineseq run` does, or materialize it in the Dagster UI."
REWRITE_HINT = "Materialize forecast_model again (`cineseq run --force`, or the Dagster UI): it rewrites the model's files."


def model_folder(storage_dir: Path) -> ModelFolder:
    """The forecasters of ``storage_dir``: ``<architecture>.parquet`` + ``.onnx``, and serving.json."""
    return ModelFolder(Path(storage_dir) / MODEL_DIR, (".parquet", ".onnx", BOOSTER_SUFFIX), "forecaster", TRAIN_HINT)


def model_dir(storage_dir: Path) -> Path:
    return model_folder(storage_dir).path


def save_model(trained: TrainedModel, path: Path, metrics: dict | None = None,
               final_total: FinalTotalModel | None = None) -> Path:
    """Write ``trained`` to the weights file ``path`` (``model_folder(storage).file(architecture)``), with
    the final-total multipliers, band and tail fitted for it (``final_total.fit_final_total``) when given."""
    state = {name: tensor.detach().cpu().numpy() for name, tensor in trained.model.state_dict().items()}
    path = Path(path)
    config = {"format_version": FORMAT_VERSION, **trained.metadata()}
    if trained.booster is not None:  # written first: the weights file that names its hash comes after it
        config["booster_sha256"] = trained.booster.save(path.with_suffix(BOOSTER_SUFFIX))
    if final_total is not None:
        config["final_total"] = final_total.to_dict()
    return write_weights(path, state, config, metrics or {})


def load_final_total(path: Path) -> FinalTotalModel | None:
    """The final-total model stored with the weights file ``path``; None for a model saved without one
    (the 4-week forecast still serves: the final total is then left out)."""
    stored = read_metadata(Path(path))[0].get("final_total")
    return None if stored is None else FinalTotalModel.from_dict(stored)


def load_model(path: Path) -> tuple[TrainedModel, dict]:
    """(model, metrics) from a weights file written by ``save_model``; a ModelError naming the file when
    it (or the booster beside it) cannot be read or does not make a model that can forecast."""
    path = Path(path)
    if not path.exists():
        raise ModelError(path, "no forecast model here", TRAIN_HINT)
    try:
        return _load_model(path)
    except ModelError:
        raise
    # A damaged or foreign file fails anywhere in pyarrow, json, torch or the configs, with errors that
    # share no base class and name no file; a reader (the demo) needs one error that names it.
    except Exception as error:
        raise ModelError(path, f"not a CineSeq forecast model ({type(error).__name__}: {_first_line(error)})",
                         REWRITE_HINT) from error


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:300] if str(error) else type(error).__name__


def _load_model(path: Path) -> tuple[TrainedModel, dict]:
    state, meta, metrics = read_weights(path)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(path, f"written in model format {meta.get('format_version')!r}; this version reads {FORMAT_VERSION}",
                         "Materialize forecast_model again with this version.")
    model_config = ModelConfig(**meta["model_config"])
    model = build_model(meta["architecture"], model_config)
    model.load_state_dict({name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in state.items()})
    model.eval()
    train_config = _train_config(meta["train_config"])
    trained = TrainedModel(
        architecture=meta["architecture"], model=model, model_config=model_config, train_config=train_config,
        scalers=Scalers.from_dict(meta["scalers"]), pooled=PooledRetention.from_dict(meta["pooled_retention"]),
        schema=FeatureSchema(**meta["feature_schema"]), history=meta.get("history", []),
        seconds=float(meta.get("seconds", 0.0)), conformal=list(meta.get("conformal", [0.0] * model_config.horizon)),
        blend_weight=float(meta.get("blend_weight", 0.0)),
        blend_scores={float(k): v for k, v in (meta.get("blend_scores") or {}).items()},
    )
    if meta.get("recent_calibration"):
        trained.recent = RecentCalibration.from_dict(meta["recent_calibration"])
        if trained.recent.margins.shape[1] != model_config.horizon:
            raise ValueError(f"the recent calibration has {trained.recent.margins.shape[1]} horizons, not {model_config.horizon}")
    trained.scalers.check(trained.schema)
    if len(trained.conformal) != model_config.horizon or not np.isfinite(trained.conformal).all():
        raise ValueError(f"the conformal widening holds {trained.conformal!r}, not {model_config.horizon} numbers")
    if meta.get("booster_sha256"):
        trained.booster = Booster.load(path.with_suffix(BOOSTER_SUFFIX), meta["booster_sha256"])
    return trained, metrics


def _train_config(values: dict) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)}
    values = {k: v for k, v in values.items() if k in known}
    values["prior"] = PriorConfig(**values.get("prior", {}))
    values["eval_origins"] = tuple(values.get("eval_origins", (2, 8)))
    return TrainConfig(**values)


def latest_model_path(storage_dir: Path) -> Path:
    """The weights file of the serving model in ``storage_dir`` (the last published choice)."""
    return model_folder(storage_dir).serving_file()


def load_latest(storage_dir: Path) -> tuple[TrainedModel, dict]:
    return load_model(latest_model_path(storage_dir))
