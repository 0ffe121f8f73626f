"""A trained frame classifier on disk, and what it says about an image, a video or a film.

Stored without pickle (``weights.write_weights``): the trainable tensors, the training config, the
genre label set and the per-genre thresholds. A transfer model stores only its trained blocks and
head; its frozen blocks are the registry's ImageNet weights, verified by sha256 when loaded.
The models live in a model folder (cineseq_assets.model_store): ``<name>_weights.parquet`` per model,
and ``serving.json`` naming the model the rest of the project uses (the one with the best validation
score, published by the frame_classifier asset).

A video is classified by its representative frames (one per shot): the genre and budget
probabilities of the frames are averaged, so each shot counts once however long it lasts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import CineSeqError, InputFileError, ModelError
from ..media.images import read_image
from ..model_store import SERVING_FILE, ModelFolder
from ..reloading import FileWatch
from ..settings import storage_dir
from ..weights import read_weights, write_weights
from .dataset import to_model_pixels
from .labels import BUDGET_CLASSES, IMAGE_SUFFIXES
from .nets import trainable_state
from .train import FrameTrainConfig, TrainedFrameModel, build_net, predict_pixels

ASSET = "frame_classifier"
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")
TRAIN_HINT = ("Materialize the frame_classifier asset first (`cineseq run` does when the shared image sets are "
              "found; or the Dagster UI).")


def classifier_folder(storage: str | Path | None = None) -> ModelFolder:
    """The frame classifiers of ``storage`` (default: the project's): ``<name>_weights.parquet``, serving.json."""
    return ModelFolder((Path(storage) if storage else storage_dir()) / ASSET, ("_weights.parquet",),
                       "frame classifier", TRAIN_HINT)


def classifier_dir(storage: str | Path | None = None) -> Path:
    return classifier_folder(storage).path


def save_model(model: TrainedFrameModel, path: Path, metrics: dict | None = None) -> Path:
    state = {name: tensor.detach().numpy() for name, tensor in trainable_state(model.net).items()}
    return write_weights(path, state, model.config_dict(), metrics)


@dataclass
class FrameClassifier:
    """A loaded classifier: ``predict`` takes BGR images of any size."""

    net: torch.nn.Module
    genres: tuple[str, ...]
    thresholds: np.ndarray
    image_size: int
    name: str = ""
    config: dict = field(default_factory=dict)

    def predict(self, images_bgr: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(genre probabilities (N, k), budget probabilities (N, 5))."""
        if not images_bgr:
            return np.zeros((0, len(self.genres))), np.zeros((0, len(BUDGET_CLASSES)))
        pixels = np.stack([to_model_pixels(image, self.image_size) for image in images_bgr])
        return predict_pixels(self.net, pixels)


def load_classifier(path: str | Path) -> FrameClassifier:
    """A classifier from its weights file (see ``save_model``)."""
    path = Path(path)
    if not path.exists():
        raise ModelError(path, "no frame classifier here", TRAIN_HINT)
    state, config, _ = read_weights(path)
    train_config = FrameTrainConfig(**{**config["train"], "channels": tuple(config["train"]["channels"])})
    net = build_net(train_config, len(config["genres"]))
    missing, unexpected = net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    missing = [k for k in missing if not k.startswith("trunk.frozen.")]
    if missing or unexpected:
        raise CineSeqError(f"{path}: the weights do not fit a {train_config.kind} frame classifier "
                           f"(missing {missing[:5]}, unexpected {unexpected[:5]}). Materialize frame_classifier again.")
    net.eval()
    return FrameClassifier(net, tuple(config["genres"]), np.asarray(config["thresholds"]), train_config.image_size,
                           path.stem.removesuffix("_weights"), config)


def load_serving(storage: str | Path | None = None) -> FrameClassifier:
    """The classifier that serves: the one serving.json names in the frame_classifier folder."""
    return load_classifier(classifier_folder(storage).serving_file())


_watches: dict[Path, FileWatch[FrameClassifier]] = {}  # folder -> its serving classifier


def cached_serving(storage: str | Path | None = None) -> FrameClassifier:
    """``load_serving`` for a long-running process: loaded again only when serving.json or the weights
    it names change on disk (a newly materialized classifier is picked up, no restart; a broken new
    one keeps the old one serving)."""
    folder = classifier_folder(storage)
    # setdefault is atomic under the GIL: two threads never get two watches for one folder
    watch = _watches.setdefault(folder.path, FileWatch(
        lambda: (folder.path / SERVING_FILE, folder.serving_file()), lambda files: load_classifier(files[1])))
    return watch.get()


# ------------------------------------------------------------------------------ classifying files


@dataclass
class Classification:
    path: str
    kind: str  # "image" or "video"
    frames: int  # images the probabilities average over
    genres: dict[str, float]
    budget: dict[str, float]
    predicted_genres: list[str]
    predicted_budget: str

    def as_json(self) -> dict:
        return {"path": self.path, "genres": self.genres, "budget": self.budget}


def summarize(classifier: FrameClassifier, genre_probs: np.ndarray, budget_probs: np.ndarray) -> tuple[dict, dict, list, str]:
    """Average over frames -> (genre -> p, budget class -> p, genres above their thresholds, likeliest budget)."""
    genres = genre_probs.mean(0)
    budget = budget_probs.mean(0)
    genre_map = {g: round(float(p), 4) for g, p in zip(classifier.genres, genres)}
    budget_map = {c: round(float(p), 4) for c, p in zip(BUDGET_CLASSES, budget)}
    predicted = [g for g, p, t in zip(classifier.genres, genres, classifier.thresholds) if p >= t]
    return genre_map, budget_map, predicted, BUDGET_CLASSES[int(budget.argmax())]


def video_frames(path: Path, rate: float = 2.0) -> list[np.ndarray]:
    """The representative frames of a video (one per shot); an error naming the file when none is usable."""
    from .representative import representative_frames

    shots = representative_frames(path, rate=rate)
    if not shots:
        raise InputFileError(path, "has no usable frame (every shot is black or a text card)",
                             "pass a clip with picture content, or a still image")
    return [shot.image for shot in shots]


def classify_path(classifier: FrameClassifier, path: str | Path) -> Classification:
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "does not exist", "check the path")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        kind, images = "image", [read_image(path)]
    elif suffix in VIDEO_SUFFIXES:
        kind, images = "video", video_frames(path)
    else:
        raise InputFileError(path, f"has the unsupported extension {suffix or '(none)'}",
                             f"pass an image ({', '.join(IMAGE_SUFFIXES)}) or a video ({', '.join(VIDEO_SUFFIXES)})")
    genre_probs, budget_probs = classifier.predict(images)
    genres, budget, predicted, likeliest = summarize(classifier, genre_probs, budget_probs)
    return Classification(str(path), kind, len(images), genres, budget, predicted, likeliest)


# ------------------------------------------------------------------------------------ per film


def film_row(classifier: FrameClassifier, film_id: str, images_bgr: list[np.ndarray]) -> dict:
    """One film's frame predictions: mean probabilities over its representative frames.

    Columns ``frame_genre_<genre>`` and ``frame_budget_<class>`` (probabilities), the expected budget
    class (0 = under $1M .. 4 = $50M and over; ordinal, so one number summarizes the distribution),
    the genres above their thresholds and the likeliest budget class. No frames: has_frames 0, NaNs.
    """
    row: dict = {"film_id": film_id, "has_frames": int(bool(images_bgr)), "frames": len(images_bgr)}
    genre_probs, budget_probs = classifier.predict(images_bgr)
    if images_bgr:
        genres, budget, predicted, likeliest = summarize(classifier, genre_probs, budget_probs)
        expected = float(np.dot(list(budget.values()), np.arange(len(BUDGET_CLASSES))))
    else:
        genres, budget = dict.fromkeys(classifier.genres, np.nan), dict.fromkeys(BUDGET_CLASSES, np.nan)
        predicted, likeliest, expected = [], None, np.nan
    row |= {f"frame_genre_{g}": p for g, p in genres.items()}
    row |= {f"frame_budget_{c}": p for c, p in budget.items()}
    return row | {"frame_expected_budget_class": expected, "predicted_genres": "|".join(predicted),
                  "predicted_budget": likeliest, "classifier": classifier.name}
