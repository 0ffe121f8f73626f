"""The student's data: face sources, teacher-ready crops cached as ``.npz``, and the split by source."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np
import pandas as pd

from cineseq_assets.errors import InputFileError
from cineseq_assets.processes import available_threads
from cineseq_assets.splitting import POSITION, assign_groups
from cineseq_assets.trailers.emotions import TEACHER_CONTRACT, to_gray_square
from cineseq_assets.trailers.faces import FaceDetector, crop_face

CACHE_VERSION = 1
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SPLITS = ("train", "val", "test")
ROW_FIELDS = ("crops", "source_ids", "kinds", "origins", "boxes")
# Sources per task sent to a worker process: small enough that the workers finish within a fraction of
# a second of each other (a poster takes milliseconds), large enough that passing tasks costs nothing.
SOURCES_PER_TASK = 32


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
    the first ``test_fraction`` of the order goes to test, the next ``val_fraction`` to val, cut by
    position so that a kind of two or three sources still holds one out. A kind with a single source
    stays in training.
    """
    return assign_groups(source_kinds, {"test": test_fraction, "val": val_fraction}, cut=POSITION)


def _cache_key(sources: Sequence[Source], detector, settings: dict) -> str:
    files = [(s.id, s.kind, [(str(p), p.stat().st_size) for p in s.paths]) for s in sources]
    detector_id = (type(detector).__name__, str(getattr(detector, "model_path", "")),
                   *(getattr(detector, name, None) for name in ("score_threshold", "precision", "input_size", "scales")))
    text = json.dumps([CACHE_VERSION, files, detector_id, settings], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def build_crop_dataset(sources: Sequence[Source], detector: FaceDetector | Callable[[], FaceDetector],
                       cache_path: str | Path, *, min_face_px: int = 24, frame_step: int = 1,
                       val_fraction: float = 0.15, test_fraction: float = 0.15, workers: int = 1) -> CropDataset:
    """Detect faces in every frame of ``sources`` and keep teacher-ready crops, cached under ``cache_path``.

    ``cache_path`` is a folder (the file name then encodes the settings) or an ``.npz`` file; the
    cache is reused only when the sources, detector and settings are the same. Faces narrower or
    lower than ``min_face_px`` are skipped: upscaled to 64 px they carry no readable expression.
    ``detector`` is anything with ``detect(image_bgr) -> list[Face]`` (see ``faces.make_detector``), or a
    picklable function that makes one, e.g. ``functools.partial(faces.make_detector, "yunet")``.

    ``workers`` > 1 detects in that many processes, each with its own detector (so ``detector`` must be
    the function) and an equal share of this process's threads; the crops, their order and the split
    are the same as with one worker.
    """
    make = detector if not hasattr(detector, "detect") else None
    if workers > 1 and make is None:
        raise ValueError("workers > 1 needs a function that makes the detector (each worker process makes its "
                         "own), e.g. functools.partial(faces.make_detector, 'yunet'), not a detector")
    here = detector if make is None else make()  # names the cache; detects when there is one worker
    settings = {"min_face_px": min_face_px, "frame_step": frame_step, "val": val_fraction, "test": test_fraction,
                "margin": TEACHER_CONTRACT.face_margin_px, "size": TEACHER_CONTRACT.size}
    key = _cache_key(sources, here, settings)
    cache_path = Path(cache_path)
    cache_file = cache_path if cache_path.suffix == ".npz" else cache_path / f"face_crops_{key[:16]}.npz"
    cached = CropDataset.load(cache_file, key)
    if cached is not None:
        return cached
    if workers > 1:
        rows = _collect_crops_in_processes(sources, make, workers, min_face_px, frame_step)
    else:
        rows = _merge(_source_crops(source, here, min_face_px, frame_step) for source in sources)
    if not rows["crops"]:
        raise ValueError(f"no face of at least {min_face_px} px was found in the {len(sources)} sources")
    source_ids = np.array(rows["source_ids"])
    split_of = assign_splits(dict(zip(rows["source_ids"], rows["kinds"])), val_fraction, test_fraction)
    dataset = CropDataset(np.stack(rows["crops"]), source_ids, np.array(rows["kinds"]), np.array(rows["origins"]),
                          np.asarray(rows["boxes"], dtype=np.float32), np.array([split_of[s] for s in source_ids]))
    dataset.save(cache_file, key)
    return dataset


def _source_crops(source: Source, detector: FaceDetector, min_face_px: int, frame_step: int) -> dict[str, list]:
    """Every face of every frame of one source, cropped and scaled as the teacher wants it, with its provenance."""
    rows: dict[str, list] = {name: [] for name in ROW_FIELDS}
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


def _merge(parts: Iterable[dict[str, list]]) -> dict[str, list]:
    """The rows of several sources, one after the other in the order given."""
    rows: dict[str, list] = {name: [] for name in ROW_FIELDS}
    for part in parts:
        for name in ROW_FIELDS:
            rows[name] += part[name]
    return rows


def _collect_crops_in_processes(sources: Sequence[Source], make: Callable[[], FaceDetector], workers: int,
                                min_face_px: int, frame_step: int) -> dict[str, list]:
    """The rows of ``_source_crops`` for every source, computed in ``workers`` processes, in source order.

    Why processes: OpenCV's own threads barely speed up YuNet on one small image (a poster), while one
    image per core does; and a process sets its thread counts (process-wide in OpenCV) without touching
    the caller's. A source is the unit of work, so a video's frames stay in one process, in order.
    "spawn" starts clean workers: forking a process that runs inference threads can copy a held lock.
    """
    threads = max(1, available_threads() // workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(make, threads)) as pool:
        # map yields the results in the order of ``sources``, whichever worker finishes first
        task = partial(_worker_source_crops, min_face_px=min_face_px, frame_step=frame_step)
        return _merge(pool.map(task, sources, chunksize=SOURCES_PER_TASK))


_worker_detector: FaceDetector | None = None  # the detector of a worker process, made once by _start_worker


def _start_worker(make: Callable[[], FaceDetector], threads: int) -> None:
    """Give this worker process its thread share, then its detector."""
    global _worker_detector
    # OpenCV's pool (YuNet, resizing) and onnxruntime's (SCRFD, through processes.available_threads)
    # each get the share, so the workers together run one thread per core instead of competing.
    cv2.setNumThreads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    _worker_detector = make()


def _worker_source_crops(source: Source, *, min_face_px: int, frame_step: int) -> dict[str, list]:
    return _source_crops(source, _worker_detector, min_face_px, frame_step)
