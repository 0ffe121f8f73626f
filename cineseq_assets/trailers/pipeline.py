"""One trailer, end to end: sampled frames -> faces -> emotions -> affect timeline; soundtrack ->
audio curves; both -> the embedding row. The Dagster asset and ``cineseq trailer`` both call
``analyze_trailer``, so they compute the same thing.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..media.shots import shot_boundaries, thumbnail
from ..media.video import Frame, probe, sample_frames
from ..processes import available_threads
from .audio import audio_features, load_audio
from .embedding import EMBEDDING_SCHEMA_VERSION, build_embedding
from .emotions import EmotionModel, affect, load_emotion_model
from .faces import FaceDetector, crop_face, make_detector


@dataclass
class TrailerConfig:
    """How a trailer is analysed. Defaults: 2 frames per second, SCRFD faces, the student emotions."""

    sample_rate: float = 2.0
    detector: str = "scrfd"  # or "yunet", the lighter OpenCV detector
    detection_size: int | None = None  # SCRFD input size (640; 480, 320 faster) or YuNet's long side (full frame)
    detection_precision: str = "auto"  # SCRFD: "int8" (derived once, cached), "fp32", or "auto" (int8 when possible)
    emotion_model: str = "student"  # falls back to the teacher until a student is trained; or "teacher", "ferplus"
    max_side: int | None = 1280  # frames are downscaled so that their long side is at most this
    audio_hop_s: float = 0.5
    frame_workers: int | None = None  # frames analysed at once (faces, emotions); None: one per available core
    decoder_threads: int | None = 1  # FFmpeg's threads; the frame workers keep the other cores busy


@dataclass
class TrailerAnalysis:
    embedding: dict  # embedding.EMBEDDING_COLUMNS
    visual: pd.DataFrame  # one row per sampled frame
    audio: pd.DataFrame | None  # one row per audio hop; None without an audio stream
    summary: dict = field(default_factory=dict)


def worker_threads(config: TrailerConfig) -> tuple[int, int]:
    """(frame workers, inference threads of each model) for ``config`` on this machine.

    Frames run in parallel with one inference thread each by default: SCRFD's layers on a 640x384
    input are too small to split well across threads (docs/trailers.md, "Measured").
    """
    frame_workers = max(1, min(config.frame_workers or available_threads(), available_threads()))
    return frame_workers, max(1, available_threads() // frame_workers)


class TrailerAnalyzer:
    """Holds the loaded models, so that many trailers reuse one detector and one emotion model."""

    def __init__(self, config: TrailerConfig | None = None, detector: FaceDetector | None = None,
                 emotion_model: EmotionModel | None = None, student_path: str | Path | None = None):
        """`student_path`: where the student is read from when the config asks for it (default: storage's)."""
        self.config = config or TrailerConfig()
        self.frame_workers, threads = worker_threads(self.config)
        self.detector = detector or make_detector(self.config.detector, **_detector_options(self.config, threads))
        self.emotions = emotion_model or load_emotion_model(self.config.emotion_model, student_path=student_path,
                                                            threads=threads)

    def analyze(self, path: str | Path) -> TrailerAnalysis:
        started = time.perf_counter()
        self._stage_s = dict.fromkeys(("faces", "emotions"), 0.0)
        path = Path(path)
        info = probe(path)
        frames = sample_frames(path, self.config.sample_rate, self.config.max_side, threads=self.config.decoder_threads)
        # The soundtrack is analysed beside the pictures: in a new process librosa first loads its
        # compiled kernels (~4 s on 2 cores), which would otherwise come after the frames.
        with ThreadPoolExecutor(1, thread_name_prefix="trailer-audio") as audio_thread:
            soundtrack = audio_thread.submit(self._soundtrack, path)
            visual, thumbnails = self._visual_timeline(prefetch(frames))
            shots = shot_boundaries(thumbnails) if len(thumbnails) > 1 else []
            self._stage_s["visual"] = time.perf_counter() - started
            track, features, self._stage_s["audio"] = soundtrack.result()
        audio = _audio_timeline(features)
        embedding = build_embedding(
            visual, audio, duration_s=info.duration_s, audio_silent=bool(features and features.silent),
            tempo_bpm=features.tempo_bpm if features else np.nan, shot_starts=shots,
        )
        seconds = time.perf_counter() - started
        summary = {
            "path": str(path),
            "duration_s": round(info.duration_s, 3),
            "resolution": f"{info.width}x{info.height}",
            "frames_sampled": len(visual),
            "frames_with_faces": int((visual["n_faces"] > 0).sum()),
            "faces_found": int(visual["n_faces"].sum()),
            "shots": len(shots) + 1,
            "has_audio": track is not None,
            "audio_silent": bool(features and features.silent),
            "detector": self.config.detector,
            "emotion_model": self.emotions.name,
            "processing_s": round(seconds, 3),
            "realtime_factor": round(info.duration_s / seconds, 2) if seconds > 0 else None,
            # visual and audio: wall time of each part (they overlap); faces and emotions: time summed
            # over the frame workers.
            "seconds_by_stage": {stage: round(value, 3) for stage, value in self._stage_s.items()},
            "frames_decoded": int(getattr(frames, "frames_decoded", 0)),
            "frames_truncated": bool(getattr(frames, "truncated", False)),
            "truncation": getattr(frames, "problem", None),
            "decoded_s": round(float(getattr(frames, "decoded_s", info.duration_s)), 3),
            "schema_version": EMBEDDING_SCHEMA_VERSION,
            "config": asdict(self.config),
        }
        return TrailerAnalysis(embedding=embedding, visual=visual, audio=audio, summary=summary)

    def _soundtrack(self, path: Path):
        """The decoded track (None without one), its features, and the seconds they took."""
        tick = time.perf_counter()
        track = load_audio(path)
        features = audio_features(track, hop_s=self.config.audio_hop_s) if track is not None else None
        return track, features, time.perf_counter() - tick

    def _visual_timeline(self, frames) -> tuple[pd.DataFrame, list[Frame]]:
        rows, thumbnails = [], []
        for row, small, seconds in ordered_map(self._analyze_frame, frames, self.frame_workers):
            rows.append(row)
            thumbnails.append(small)
            for stage, value in seconds.items():
                self._stage_s[stage] += value
        columns = ["timestamp", "n_faces", "valence", "arousal", *(f"prob_{label}" for label in self.emotions.labels)]
        return pd.DataFrame(rows, columns=columns), thumbnails

    def _analyze_frame(self, frame: Frame) -> tuple[dict, Frame, dict[str, float]]:
        """A frame's affect row, its thumbnail for shot detection, and the seconds spent per stage.

        The affect is the faces' emotions weighted by face area (the closer face dominates). Runs in
        the frame workers: the detector and the emotion model are onnxruntime sessions, which
        release the GIL and may be run from several threads at once.
        """
        timestamp, image = frame
        small = Frame(timestamp, thumbnail(image))
        tick = time.perf_counter()
        faces = self.detector.detect(image)
        seconds = {"faces": time.perf_counter() - tick}
        row = {"timestamp": timestamp, "n_faces": len(faces), "valence": np.nan, "arousal": np.nan}
        if not faces:
            return row | {f"prob_{label}": np.nan for label in self.emotions.labels}, small, seconds
        tick = time.perf_counter()
        crops = [crop_face(image, face, self.emotions.contract.face_margin_px) for face in faces]
        probabilities = self.emotions.predict(crops)
        seconds["emotions"] = time.perf_counter() - tick
        areas = np.array([face.width * face.height for face in faces], dtype=float)
        weights = areas / areas.sum()
        mean_probabilities = weights @ probabilities
        valence, arousal = affect(mean_probabilities, self.emotions.labels)
        row |= {"valence": float(valence), "arousal": float(arousal)}
        row |= {f"prob_{label}": float(p) for label, p in zip(self.emotions.labels, mean_probabilities)}
        return row, small, seconds


def _detector_options(config: TrailerConfig, threads: int) -> dict:
    if config.detector == "scrfd":
        options = {"precision": config.detection_precision, "threads": threads}
        return options if config.detection_size is None else {**options, "input_size": config.detection_size}
    return {} if config.detection_size is None else {"max_side": config.detection_size}


def ordered_map(function, items, workers: int, depth: int | None = None):
    """`map(function, items)` on `workers` threads, in order, with at most `depth` items in flight.

    The bound keeps memory flat however long the video: at most `depth` decoded frames wait here
    (default: two per worker, so a worker never waits for the consumer). One worker is plain `map`.
    """
    if workers <= 1:
        yield from map(function, items)
        return
    depth = depth or 2 * workers
    pending: deque = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="trailer-frames") as pool:
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= depth:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # stopped early or failed: drop the work not started yet
                future.cancel()


def prefetch(frames, depth: int = 4):
    """Decode the next frames in a background thread while the current one is analysed.

    PyAV decodes and onnxruntime infers without holding the GIL, so on two cores decoding and face
    detection overlap instead of taking turns. Errors raised by the decoder are re-raised here.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done, stop = object(), threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for frame in frames:
                if not put(frame):
                    return  # the consumer stopped early
        except BaseException as error:  # handed to the consumer, which raises it in its own thread
            put(error)
        put(done)

    worker = threading.Thread(target=produce, daemon=True, name="trailer-frames")
    worker.start()
    try:
        while (item := buffer.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _audio_timeline(features) -> pd.DataFrame | None:
    """The audio curves under the names the embedding uses."""
    if features is None:
        return None
    curves = features.curves
    return pd.DataFrame({
        "timestamp": curves["time_s"], "rms": curves["rms"], "arousal": curves["arousal"],
        "onset": curves["onset_strength"], "flux": curves["spectral_flux"], "centroid": curves["spectral_centroid_hz"],
    })


def analyze_trailer(path: str | Path, config: TrailerConfig | None = None) -> TrailerAnalysis:
    """Analyse one trailer with freshly loaded models (use ``TrailerAnalyzer`` for many)."""
    return TrailerAnalyzer(config).analyze(path)
