"""Facial emotion of face crops: label sets, the valence/arousal circumplex, and ONNX emotion models.

An :class:`EmotionModel` is an onnxruntime session plus its :class:`EmotionContract`: the crop
margin, the input size, the pixel scaling and whether the network ends in a softmax. Three kinds:

- ``teacher``: the FER2013 mini-Xception (``fer_mini_xception_onnx`` in the model registry), 7 labels;
- ``ferplus``: FER+ (``ferplus_8``), 8 labels, raw 0-255 input, logits out; used only if the user has it;
- ``student``: the small CNN distilled from the teacher (:mod:`cineseq_assets.trailers.student`); its
  contract travels inside the ONNX file's metadata.

:func:`affect` turns class probabilities into (valence, arousal) through :data:`CIRCUMPLEX`.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Sequence

import cv2
import numpy as np

from cineseq_assets.errors import InputFileError, ModelError
from cineseq_assets.model_store import ModelFolder
from cineseq_assets.processes import onnx_cpu_session
from cineseq_assets.settings import storage_dir

FER2013_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FERPLUS_LABELS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")

# (valence, arousal) in [-1, 1] for every label of both sets.
# Source: Russell & Mehrabian (1977), "Evidence for a three-factor theory of emotions", J. Research in
# Personality 11:273-294: mean pleasure and arousal ratings of emotion terms, already scaled to [-1, 1]
# (the same table feeds the PAD models of affective computing, e.g. ALMA, Gebhard 2005). Terms used:
# happy (.81, .51), angry (-.51, .59), disgust (-.60, .35), fearful (-.64, .60), sad (-.63, -.27),
# surprised (.40, .67). Chosen over Russell's (1980) circumplex angles because that study scaled 28
# words without "disgust" and has no radius, while R&M give both coordinates for all six basic emotions.
# neutral: the origin, the circumplex's point of no affect (not a rated term).
# contempt (FER+ only): R&M rate no contempt term we could verify; we use disgust's coordinates, its
# neighbour in Scherer's (2005) circumplex ("What are emotions?", Soc. Sci. Inf. 44:695, Fig. 1),
# which is also where the project's embedding maps FER+ contempt (see embedding.LABEL_ALIASES).
_HAPPY, _ANGRY, _DISGUST = (0.81, 0.51), (-0.51, 0.59), (-0.60, 0.35)
_FEAR, _SAD, _SURPRISE, _NEUTRAL = (-0.64, 0.60), (-0.63, -0.27), (0.40, 0.67), (0.0, 0.0)
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "angry": _ANGRY, "disgust": _DISGUST, "fear": _FEAR, "happy": _HAPPY, "sad": _SAD,
    "surprise": _SURPRISE, "neutral": _NEUTRAL,
    # FER+ spellings
    "anger": _ANGRY, "happiness": _HAPPY, "sadness": _SAD, "contempt": _DISGUST,
}


def affect(probabilities: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Probability-weighted mean (valence, arousal) of ``probabilities`` ([K] or [N, K], columns = ``labels``).

    Rows are divided by their sum, so the result stays inside the circumplex's [-1, 1] square even
    for rows that do not sum exactly to 1. A single row gives floats, a batch gives arrays.
    """
    unknown = [label for label in labels if label not in CIRCUMPLEX]
    if unknown:
        raise ValueError(f"no circumplex coordinates for {unknown}; known labels: {sorted(CIRCUMPLEX)}")
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.shape[-1] != len(labels):
        raise ValueError(f"{probs.shape[-1]} probability columns for {len(labels)} labels")
    coordinates = np.array([CIRCUMPLEX[label] for label in labels])  # [K, 2]
    mean = probs @ coordinates / probs.sum(axis=-1, keepdims=True)
    if mean.ndim == 1:
        return float(mean[0]), float(mean[1])
    return mean[:, 0], mean[:, 1]


# --------------------------------------------------------------------------------------- contracts

@dataclass(frozen=True)
class EmotionContract:
    """What a model expects and returns; :class:`EmotionModel` applies it around onnxruntime."""

    labels: tuple[str, ...]
    size: int  # square input side in pixels; crops are grayscale-converted, then resized to it
    scale: Literal["minus_one_to_one", "raw_255"]  # (x / 255 - 0.5) * 2, or raw 0-255 floats
    face_margin_px: int  # pixels added around the detector's box before cropping
    logits: bool  # True: the network's output needs a softmax

    def normalize(self, gray: np.ndarray) -> np.ndarray:
        """[N, size, size] grayscale 0-255 (uint8 or float) -> float32 network input [N, 1, size, size]."""
        batch = np.asarray(gray, dtype=np.float32)[:, None]
        return (batch / 255.0 - 0.5) * 2.0 if self.scale == "minus_one_to_one" else batch

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "EmotionContract":
        values = json.loads(text)
        return cls(**{**values, "labels": tuple(values["labels"])})


# The shared SOURCE.md and the registry state these: grayscale in [-1, 1], 10 px margin, softmax out.
TEACHER_CONTRACT = EmotionContract(FER2013_LABELS, 64, "minus_one_to_one", 10, logits=False)
# FER+ relabelled the FER2013 images, so it gets the same crops; the ONNX Model Zoo model takes raw
# 0-255 grayscale and returns logits.
FERPLUS_CONTRACT = EmotionContract(FERPLUS_LABELS, 64, "raw_255", 10, logits=True)
CONTRACT_METADATA_KEY = "cineseq_emotion_contract"


def to_gray_square(crop_bgr: np.ndarray, size: int) -> np.ndarray:
    """A face crop (BGR, BGRA or gray) -> [size, size] uint8 grayscale.

    Gray first, then resize, as the fer package does. INTER_AREA when shrinking (a trailer face is
    usually larger than 64 px, and bilinear shrinking aliases), bilinear when enlarging.
    """
    if crop_bgr.size == 0:
        raise ValueError("empty face crop")
    gray = crop_bgr if crop_bgr.ndim == 2 else cv2.cvtColor(
        crop_bgr, cv2.COLOR_BGRA2GRAY if crop_bgr.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    if gray.shape == (size, size):
        return gray
    shrinking = max(gray.shape) > size
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------------------- the model

class EmotionModel:
    """An ONNX emotion classifier with its preprocessing: face crops in, class probabilities out.

    ``predict`` takes BGR face crops of any size (cut with ``contract.face_margin_px`` around the
    detector's box, e.g. ``faces.crop_face(image, face, model.contract.face_margin_px)``) and returns
    [N, len(labels)] probabilities, running onnxruntime in batches of ``batch_size``.
    """

    def __init__(self, onnx_path: str | Path, contract: EmotionContract, name: str, *,
                 threads: int = 2, batch_size: int = 64):
        self.path, self.contract, self.name = Path(onnx_path), contract, name
        self.batch_size = batch_size
        self.session = onnx_cpu_session(self.path, threads)
        self._input = self.session.get_inputs()[0].name
        outputs = self.session.get_outputs()[0].shape[-1]
        if isinstance(outputs, int) and outputs != len(contract.labels):
            raise InputFileError(self.path, f"the model has {outputs} outputs but {len(contract.labels)} labels",
                                 "Use the file that matches this model kind.")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.contract.labels

    def __repr__(self) -> str:
        return f"EmotionModel({self.name!r}, {self.path.name}, {len(self.labels)} labels)"

    def preprocess(self, face_crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """Face crops -> [N, size, size] uint8 grayscale, the input before pixel scaling."""
        size = self.contract.size
        if not len(face_crops_bgr):
            return np.zeros((0, size, size), np.uint8)
        return np.stack([to_gray_square(crop, size) for crop in face_crops_bgr])

    def predict(self, face_crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """[N, K] class probabilities for N face crops (BGR, any size)."""
        return self.predict_gray(self.preprocess(face_crops_bgr))

    def predict_gray(self, gray: np.ndarray) -> np.ndarray:
        """[N, K] probabilities for grayscale squares [N, S, S] (0-255); resized if S != contract.size."""
        gray = np.asarray(gray)
        if gray.shape[1:] != (self.contract.size,) * 2:
            gray = np.stack([to_gray_square(g, self.contract.size) for g in gray.astype(np.float32)])
        chunks = [self.run(self.contract.normalize(gray[i:i + self.batch_size]))
                  for i in range(0, len(gray), self.batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.labels)), np.float32)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for an already normalized network input [N, 1, S, S]."""
        output = self.session.run(None, {self._input: np.ascontiguousarray(batch, dtype=np.float32)})[0]
        return softmax(output) if self.contract.logits else output


# ------------------------------------------------------------------------------------- the factory

STUDENT, STUDENT_CANDIDATE = "student", "student_candidate"  # the published student; the latest trained one


def student_folder(storage: str | Path | None = None) -> ModelFolder:
    """The trained students of ``storage`` (default: the project's): weights + ONNX per model, serving.json."""
    return ModelFolder((Path(storage) if storage else storage_dir()) / "trailer_emotion_student",
                       ("_weights.parquet", ".onnx"), "emotion student",
                       "Materialize trailer_emotion_student (`cineseq run` or the Dagster UI).")


def default_student_path(storage: str | Path | None = None) -> Path:
    """The published student's ONNX file: the one serving.json names in ``<storage>/trailer_emotion_student``,
    else ``student.onnx`` there (which exists only once a student has passed its gate)."""
    folder = student_folder(storage)
    try:
        return folder.serving_file(".onnx")
    except ModelError:
        return folder.file(STUDENT, ".onnx")


def read_contract(onnx_path: str | Path) -> EmotionContract:
    """The contract stored in a student's ONNX metadata (see ``student.export_onnx``)."""
    import onnx

    metadata = {p.key: p.value for p in onnx.load(str(onnx_path), load_external_data=False).metadata_props}
    if CONTRACT_METADATA_KEY not in metadata:
        raise InputFileError(onnx_path, f"no {CONTRACT_METADATA_KEY!r} metadata",
                             "Export the student with cineseq_assets.trailers.student.export.export_onnx.")
    return EmotionContract.from_json(metadata[CONTRACT_METADATA_KEY])


def load_emotion_model(kind: Literal["student", "teacher", "ferplus"] = "student", *,
                       student_path: str | Path | None = None, threads: int = 2) -> EmotionModel:
    """The emotion model of ``kind``; the student falls back to the teacher, with a warning, until one is trained.

    Teacher and FER+ files are found by the model registry (``cineseq_assets.model_files.locate``:
    ``$CINESEQ_MODEL_DIR`` or the user cache); a missing file raises its ModelNotFoundError, which says
    how to get it. The student is read from ``student_path`` or :func:`default_student_path`.
    """
    from cineseq_assets.model_files import locate

    if kind == "teacher":
        return EmotionModel(locate("fer_mini_xception_onnx"), TEACHER_CONTRACT, "fer_mini_xception", threads=threads)
    if kind == "ferplus":
        return EmotionModel(locate("ferplus_8"), FERPLUS_CONTRACT, "ferplus_8", threads=threads)
    if kind != "student":
        raise ValueError(f"unknown emotion model kind {kind!r}; choose student, teacher or ferplus")
    path = Path(student_path) if student_path is not None else default_student_path()
    if not path.is_file():
        warnings.warn(f"no trained emotion student at {path}; using the teacher (fer_mini_xception) instead. "
                      f"Train one with benchmarks/student.py or cineseq_assets.trailers.student.", stacklevel=2)
        model = load_emotion_model("teacher", threads=threads)
        model.name = "fer_mini_xception (teacher: no student trained yet)"
        return model
    return EmotionModel(path, read_contract(path), f"student ({path.name})", threads=threads)
