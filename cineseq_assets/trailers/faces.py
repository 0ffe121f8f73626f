"""Face detection on video frames: SCRFD-2.5G (onnxruntime) and YuNet (cv2.FaceDetectorYN).

Both detectors take a BGR uint8 image (as cv2 reads it) and return `Face`s in that image's pixel
coordinates, best score first. Keypoints, when present, are five (x, y) points in image order:
eye on the image's left, eye on the image's right, nose tip, mouth corner left, mouth corner right.

Plain Python: no Dagster here. A detector object holds one inference session; create it once per
worker and call `detect` per frame.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np

from cineseq_assets.errors import CineSeqError
from cineseq_assets.model_files import locate
from cineseq_assets.processes import available_threads, onnx_cpu_session

from .quantize import Int8NotPreparedError, prepared_int8
from .scrfd import ScaledCopy, as_bgr, dynamic_scrfd_graph, network_input, plan_copies, resized_copies


@dataclass
class Face:
    """One detected face: box (x1, y1, x2, y2) in image pixels, detector score, 5x2 keypoints or None."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


class FaceDetector(Protocol):
    def detect(self, image_bgr: np.ndarray) -> list[Face]: ...


class UnknownDetectorError(CineSeqError, ValueError):
    def __init__(self, kind: str):
        super().__init__(f"unknown face detector {kind!r}; choose one of: {', '.join(DETECTORS)}.")


def box_iou(a, b) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes (0 when they do not overlap)."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by non-maximum suppression (cv2.dnn.NMSBoxes on x1y1x2y2 boxes), best first."""
    if len(boxes) == 0:
        return np.empty(0, dtype=int)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).tolist()
    kept = cv2.dnn.NMSBoxes(xywh, scores.tolist(), float(scores.min()), iou_threshold)
    kept = np.asarray(kept, dtype=int).reshape(-1)
    return kept[np.argsort(-scores[kept], kind="stable")]


# --------------------------------------------------------------------------------------------- SCRFD

PRECISIONS = ("auto", "int8", "fp32")


def _auto_precision(model_path: Path) -> str:
    """int8 when its derived model is prepared; else fp32, with a warning that says how to prepare it."""
    if prepared_int8(model_path) is not None:
        return "int8"
    warnings.warn("SCRFD runs in fp32, about twice the CPU per frame: the int8 model is not prepared on this "
                  "machine. Run `cineseq models prepare` once (it needs the shared media/ folder).", stacklevel=3)
    return "fp32"


class ScrfdDetector:
    """SCRFD-2.5G with 5 keypoints in onnxruntime: the image letterboxed so that its longer side is `input_size`.

    `scales` lists the sizes the image is shown to the network at, relative to the plain letterbox.
    Why a second, half-size copy (default (1.0, 0.5)): SCRFD was trained on WIDER FACE, where faces
    are mostly small, so a close-up face filling the frame (a trailer's most common shot) scores low,
    around the 0.5 threshold or below, while the same face at half size scores high. Each copy is
    one inference on an input just large enough for it (see `plan_copies`), so the half-size pass
    costs a quarter of the first; detections of all copies are merged by NMS. Use `scales=(1.0,)`
    for a single pass.

    `input_size` (a multiple of 32, default 640 as exported) runs the same weights at another
    letterbox size. On a 2-core machine 480 cost ~60% of 640's CPU time and still found all 29
    Solvay faces; 320 cost ~28% and lost the 3 smallest.

    `precision` "int8" runs a copy of the network quantized to 8 bits, derived from the float
    model and the shared clips once at setup (`cineseq models prepare`, see `quantize.py`) and
    cached; asking for it before it is prepared is an Int8NotPreparedError that says so. On the
    2-core machine (AVX-512 VNNI) it costs about half the CPU per 720p frame of "fp32", the float
    model, and finds the same faces (matched boxes IoU >= 0.95, scores within 0.05). "auto"
    (default) takes int8 when it is prepared, else fp32 with a warning: an analysis never derives it.
    """

    strides = (8, 16, 32)
    anchors_per_cell = 2

    def __init__(self, model_path: str | Path | None = None, *, score_threshold: float = 0.5,
                 nms_threshold: float = 0.4, scales: Sequence[float] = (1.0, 0.5), input_size: int = 640,
                 precision: str = "auto", threads: int | None = None, spin_wait: bool = False):
        if not scales or not all(0 < scale <= 1 for scale in scales):
            raise ValueError(f"SCRFD scales must be fractions in (0, 1] of the letterbox size, not {scales}")
        if input_size % 32 or input_size <= 0:
            raise ValueError(f"SCRFD input_size must be a positive multiple of 32 (its coarsest stride), "
                             f"not {input_size}")
        if precision not in PRECISIONS:
            raise ValueError(f"SCRFD precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.model_path = Path(model_path) if model_path is not None else locate("scrfd_2.5g_kps")
        if precision == "auto":
            precision = _auto_precision(self.model_path)
        self.input_size, self.precision = input_size, precision
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold
        self.scales = tuple(scales)
        self.threads = min(threads or available_threads(), available_threads())
        self._plans: dict[tuple[int, int], list[ScaledCopy]] = {}  # per frame shape: videos repeat it
        self._anchor_centers: dict[tuple[int, int, int], np.ndarray] = {}  # per (stride, input shape)
        if precision == "int8":
            prepared = prepared_int8(self.model_path)
            if prepared is None:
                raise Int8NotPreparedError(self.model_path)
            model = prepared
        else:
            model = dynamic_scrfd_graph(self.model_path).SerializeToString()
        self._session = onnx_cpu_session(model, self.threads, spin_wait=spin_wait)
        self._input_name = self._session.get_inputs()[0].name
        self._output_names = [f"{head}_{stride}" for head in ("score", "bbox", "kps") for stride in self.strides]

    def _anchor_grid(self, stride: int, input_shape: tuple[int, int]) -> np.ndarray:
        """Centres of the anchors (top-left of each cell, as SCRFD was trained), repeated per anchor."""
        key = (stride, *input_shape)
        if key not in self._anchor_centers:
            ys, xs = np.mgrid[:input_shape[0] // stride, :input_shape[1] // stride]
            centers = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
            self._anchor_centers[key] = np.repeat(centers, self.anchors_per_cell, axis=0)
        return self._anchor_centers[key]

    def _plan(self, height: int, width: int) -> list[ScaledCopy]:
        plan = self._plans.get((height, width))
        if plan is None:
            plan = self._plans[(height, width)] = plan_copies(height, width, self.scales, self.input_size)
        return plan

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        """Faces in the image, best score first."""
        image = as_bgr(image_bgr)
        height, width = image.shape[:2]
        copies = self._plan(height, width)
        found = [self._detect_copy(resized, copy) for resized, copy in zip(resized_copies(image, copies), copies)]
        boxes = np.concatenate([f[0] for f in found])
        scores = np.concatenate([f[1] for f in found])
        keypoints = np.concatenate([f[2] for f in found])
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        kept = nms(boxes, scores, self.nms_threshold)
        return [Face(tuple(float(v) for v in boxes[i]), float(scores[i]), keypoints[i]) for i in kept]

    def _detect_copy(self, resized: np.ndarray, copy: ScaledCopy):
        """Run the network once on one copy (the image resized for it); candidates in image pixels."""
        blob = network_input(resized, copy)
        outputs = dict(zip(self._output_names, self._session.run(self._output_names, {self._input_name: blob})))
        boxes, scores, keypoints = self._decode(outputs, copy.input_shape)
        # A candidate centred in the black padding belongs to no face of this copy.
        inside = copy.contains((boxes[:, :2] + boxes[:, 2:]) / 2)
        return (copy.to_image(boxes[inside].reshape(-1, 2, 2)).reshape(-1, 4).astype(np.float32),
                scores[inside].astype(np.float32), copy.to_image(keypoints[inside]).astype(np.float32))

    def _decode(self, outputs: dict[str, np.ndarray], input_shape: tuple[int, int]):
        """Boxes, scores and keypoints above the threshold, in input pixels, for all strides."""
        all_boxes, all_scores, all_keypoints = [], [], []
        for stride in self.strides:
            scores = outputs[f"score_{stride}"][0, :, 0]
            above = np.flatnonzero(scores >= self.score_threshold)
            centers = self._anchor_grid(stride, input_shape)[above]
            distances = outputs[f"bbox_{stride}"][0, above] * stride
            all_boxes.append(np.hstack([centers - distances[:, :2], centers + distances[:, 2:]]))
            all_scores.append(scores[above])
            offsets = outputs[f"kps_{stride}"][0, above].reshape(-1, 5, 2) * stride
            all_keypoints.append(centers[:, None, :] + offsets)
        return np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_keypoints)


# --------------------------------------------------------------------------------------------- YuNet

class YunetDetector:
    """YuNet through cv2.FaceDetectorYN (OpenCV's own decoding and NMS).

    `max_side` shrinks larger images before detection (None: full resolution). The network has a
    dynamic input size, so the input size is set per image shape, only when the shape changes.
    Threads follow OpenCV's global setting (cv2.setNumThreads), which this class leaves alone.
    The default score threshold is 0.6, not the 0.9 of OpenCV's sample: the faces in the 1927 Solvay
    photo score 0.86-0.95, and 0.9 would drop some of them.

    `detect` may be called from several threads at once (the trailer pipeline's frame workers):
    a cv2.FaceDetectorYN is not safe to share (two threads in one failed OpenCV's `forwardGraph`
    shape assertion), so each thread gets its own, made on its first call.
    """

    def __init__(self, model_path: str | Path | None = None, *, score_threshold: float = 0.6,
                 nms_threshold: float = 0.3, top_k: int = 5000, max_side: int | None = None):
        self.model_path = Path(model_path) if model_path is not None else locate("yunet")
        self.max_side = max_side
        self._settings = (score_threshold, nms_threshold, top_k)
        self._per_thread = threading.local()
        self._network()  # a model file OpenCV cannot read fails here, not in the first frame's thread

    def _network(self):
        """This thread's detector and the input size it was last set to."""
        state = self._per_thread
        if not hasattr(state, "detector"):
            state.detector = _create_yunet(str(self.model_path), self._settings)
            state.input_size = None
        return state

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        """Faces in the image, best score first."""
        image = as_bgr(image_bgr)
        height, width = image.shape[:2]
        factor = 1.0
        if self.max_side and max(height, width) > self.max_side:
            factor = self.max_side / max(height, width)
            image = cv2.resize(image, (round(width * factor), round(height * factor)),
                               interpolation=cv2.INTER_AREA)
        size = (image.shape[1], image.shape[0])
        network = self._network()
        if size != network.input_size:
            network.detector.setInputSize(size)
            network.input_size = size
        _, rows = network.detector.detect(image)
        faces = [self._face(row, factor, width, height) for row in ([] if rows is None else rows)]
        return sorted(faces, key=lambda face: -face.score)

    @staticmethod
    def _face(row: np.ndarray, factor: float, width: int, height: int) -> Face:
        """One FaceDetectorYN row (x, y, w, h, 5 keypoints, score) -> Face in original pixels."""
        x, y, w, h = (row[:4] / factor).tolist()
        box = (max(0.0, x), max(0.0, y), min(float(width), x + w), min(float(height), y + h))
        return Face(box, float(row[14]), (row[4:14].reshape(5, 2) / factor).astype(np.float32))


# ------------------------------------------------------------------------------------------- helpers

_OPENCV_LOG_LEVEL = threading.Lock()  # OpenCV's log level is process-wide: one thread changes it at a time


def _create_yunet(model_path: str, settings: tuple[float, float, int]):
    """cv2.FaceDetectorYN.create without OpenCV's warning that its new graph engine ignores the default
    target (it always runs on the CPU, as meant here): a new user reads the line as a problem."""
    with _OPENCV_LOG_LEVEL:
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            return cv2.FaceDetectorYN.create(model_path, "", (320, 320), *settings)
        finally:
            cv2.utils.logging.setLogLevel(level)


DETECTORS = {"scrfd": ScrfdDetector, "yunet": YunetDetector}


def make_detector(kind: str = "scrfd", **options) -> FaceDetector:
    """A detector by name ("scrfd" or "yunet"); options go to its constructor."""
    try:
        detector_class = DETECTORS[kind.lower()]
    except KeyError:
        raise UnknownDetectorError(kind) from None
    return detector_class(**options)


def crop_face(image_bgr: np.ndarray, face: Face, margin: int | float = 0) -> np.ndarray:
    """The face box grown by `margin` on each side and clamped to the image (a copy).

    An int margin is in pixels (the FER mini-Xception expects 10); a float is a fraction of the
    box's width (left/right) and height (top/bottom).
    """
    x1, y1, x2, y2 = face.box
    if isinstance(margin, float) and not 0 <= margin < 1:
        raise ValueError(f"a float margin is a fraction of the box (0 <= margin < 1), not {margin}; "
                         "pass an int for pixels")
    if isinstance(margin, float):
        dx, dy = margin * (x2 - x1), margin * (y2 - y1)
    else:
        dx = dy = margin
    height, width = image_bgr.shape[:2]
    left, top = int(np.clip(np.floor(x1 - dx), 0, width - 1)), int(np.clip(np.floor(y1 - dy), 0, height - 1))
    right = int(np.clip(np.ceil(x2 + dx), left + 1, width))
    bottom = int(np.clip(np.ceil(y2 + dy), top + 1, height))
    return image_bgr[top:bottom, left:right].copy()
