"""The forecaster that serves now: the one serving.json names in the storage folder, reloaded when a
newer one is materialized (serving.json or one of the model's files changed), so a running demo picks
up a new model on its next request. A new model serves only whole: when one of its files (serving.json,
the weights with their scalers, the ONNX export, the booster) cannot be read or does not belong to the
others, the old model keeps serving and the reason is kept; a model without an ONNX export serves
from PyTorch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ...errors import ModelError
from ...model_store import SERVING_FILE, ModelFolder
from ...reloading import FileWatch
from ..final_total import FinalTotalModel
from ..store import REWRITE_HINT, load_final_total, load_model, model_folder
from ..train import TrainedModel


@dataclass
class ServedModel:
    """The model in use, where it came from and how it trained."""

    model: TrainedModel  # PyTorch: explanations need gradients
    path: Path
    materialized_at: datetime  # when its weights file was written (UTC)
    metrics: dict  # training metrics stored with it (validation WAPE, epochs, seconds, ...)
    runner: object  # what forecasts: the ONNX export in onnxruntime when it matches, else ``model``
    final_total: FinalTotalModel | None = None  # stored with the weights; None for a model saved without one

    @property
    def architecture(self) -> str:
        return self.model.architecture

    def summary(self) -> dict:
        """What a page shows about the model: JSON-ready."""
        return {"architecture": self.architecture, "file": self.path.name,
                "runtime": "onnxruntime" if self.runner is not self.model else "pytorch",
                "materialized_at": self.materialized_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                "validation_wape": self.metrics.get("validation_wape"),
                "best_epoch": self.metrics.get("best_epoch"), "epochs": self.metrics.get("epochs"),
                "training_seconds": self.metrics.get("seconds")}


class ModelWatcher:
    """The serving model of ``storage_dir``: a check is a ``stat`` of serving.json and of each of the
    model's files; serving.json is read again only when it changed, the model only when one of its
    files did. If the new files cannot be read (a materialization in progress, a bad file), the
    previous model keeps serving and the error is kept in ``reload_error``."""

    def __init__(self, storage_dir: Path):
        self.storage_dir = Path(storage_dir)
        folder = model_folder(self.storage_dir)
        self._folder = folder
        # The model's files, from serving.json: a stat of it rather than a read on every request (it rarely
        # changes). Another model named there is other files to watch, so the model is read again.
        serving = folder.path / SERVING_FILE
        self._files = FileWatch(lambda: (serving,), lambda _: _model_files(folder, folder.serving().name))
        self._watch = FileWatch(self._files.get, _load_served)

    @property
    def published(self) -> bool:
        """Whether a model was published (serving.json exists), readable or not."""
        return (self._folder.path / SERVING_FILE).exists()

    def current(self) -> ServedModel:
        """The model to use now; raises ``ModelError`` (saying how to train one) when there is none."""
        return self._watch.get()

    @property
    def reload_error(self) -> str | None:
        return self._watch.error or self._files.error


def _model_files(folder: ModelFolder, name: str) -> tuple[Path, ...]:
    """The files of model ``name`` (the one serving.json names): weights, ONNX, booster (``folder.suffixes``)."""
    return tuple(folder.file(name, suffix) for suffix in folder.suffixes)


def _load_served(files: tuple[Path, ...]) -> ServedModel:
    weights = files[0]
    model, metrics = load_model(weights)
    written = datetime.fromtimestamp(weights.stat().st_mtime, tz=timezone.utc)
    try:
        final_total = load_final_total(weights)
    except (KeyError, TypeError, ValueError) as error:  # the weights loaded: only the final-total entry is bad
        raise ModelError(weights, f"holds a final-total model that cannot be read ({type(error).__name__}: {error})",
                         REWRITE_HINT) from error
    return ServedModel(model, weights, written, metrics, _onnx_runner(weights, model, metrics) or model, final_total)


def _onnx_runner(weights: Path, model: TrainedModel, metrics: dict):
    """The network of ``weights`` in onnxruntime (one thread: requests run side by side), or None when
    it has no ONNX export. An export that cannot be read or was exported from other weights (the new
    one not written yet) is a ModelError: the model is not whole. onnxruntime runs one film's windows
    in ~0.3 ms, PyTorch's Python-level LSTM loop in ~3 ms."""
    from ..onnx_export import OnnxForecaster

    onnx_file = weights.with_suffix(".onnx")
    if not onnx_file.exists():
        return None
    return OnnxForecaster(onnx_file, weights, threads=1, loaded=(model, metrics))
