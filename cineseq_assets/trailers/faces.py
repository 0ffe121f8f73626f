"""Face detection on video frames: SCRFD-2.5G (onnxruntime) and YuNet (cv2.FaceDetectorYN).

Both detectors take a BGR uint8 image (as cv2 reads it) and return `Face`s in that image's pixel
coordinates, best score first. Keypoints, when present, are five (x, y) points in image order:
eye on the image's left, eye on the image's right, nose tip, mouth corner left, mouth corner right.

Plain Python: no Dagster here. A detector object holds one inference session; create it once per
worker and call `detect` per frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np

from cineseq_assets.errors import CineSeqError
from cineseq_assets.models import locate


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


def available_threads() -> int:
    """Cores this process may use: the CPU affinity mask where the OS has one, else os.cpu_count()."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """Accept grayscale and BGRA frames too: both detectors need 3-channel uint8."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by non-maximum suppression (cv2.dnn.NMSBoxes on x1y1x2y2 boxes), best first."""
    if len(boxes) == 0:
        return np.empty(0, dtype=int)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).tolist()
    kept = cv2.dnn.NMSBoxes(xywh, scores.tolist(), float(scores.min()), iou_threshold)
    kept = np.asarray(kept, dtype=int).reshape(-1)
    return kept[np.argsort(-scores[kept], kind="stable")]


# --------------------------------------------------------------------------------------------- SCRFD

@dataclass(frozen=True)
class _Placement:
    """Where one resized copy of the image sits in the square network input."""

    scale: float  # canvas pixels per image pixel
    x0: int
    y0: int
    width: int
    height: int

    def contains(self, points: np.ndarray) -> np.ndarray:
        x, y = points[:, 0], points[:, 1]
        return (x >= self.x0) & (x < self.x0 + self.width) & (y >= self.y0) & (y < self.y0 + self.height)

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Canvas (x, y) pairs in the last axis -> image pixels."""
        return (points - np.array([self.x0, self.y0], dtype=np.float32)) / self.scale


def _align_up(value: int, step: int) -> int:
    return -(-value // step) * step


def plan_canvases(height: int, width: int, scales: Sequence[float], size: int = 640,
                  gap: int = 32) -> list[list[_Placement]]:
    """Pack the image at each relative scale into as few `size`x`size` canvases as possible.

    Scale 1.0 is the usual letterbox (longer side = size). Smaller copies go below (landscape)
    or to the right (portrait) of the first copy when they fit, separated by `gap` pixels and
    aligned to the coarsest stride (32) so their anchor grid matches a standalone run. A 16:9 frame
    at scales (1.0, 0.5) fits in one canvas, so the second pass costs no extra inference.
    """
    fit = size / max(height, width)
    canvases: list[list[_Placement]] = []
    for relative in scales:
        w, h = max(1, round(width * fit * relative)), max(1, round(height * fit * relative))
        for placements in canvases:
            spot = _free_spot(placements, w, h, size, gap)
            if spot is not None:
                placements.append(_Placement(fit * relative, *spot, w, h))
                break
        else:
            canvases.append([_Placement(fit * relative, 0, 0, w, h)])
    return canvases


def _free_spot(placements: list[_Placement], w: int, h: int, size: int, gap: int) -> tuple[int, int] | None:
    """Top-left corner below or right of everything already placed, or None when it does not fit."""
    below = _align_up(max(p.y0 + p.height for p in placements) + gap, 32)
    if below + h <= size:
        return 0, below
    right = _align_up(max(p.x0 + p.width for p in placements) + gap, 32)
    if right + w <= size:
        return right, 0
    return None


def _scrfd_graph_for_size(path: Path, size: int, exported_size: int) -> str | bytes:
    """The model path as exported, or the same weights re-shaped in memory for another square input.

    The exported graph fixes the input to 640x640 and the two FPN upsampling targets to 40x40 and
    80x80 (Resize with constant `sizes`); everything else is convolution or Reshape(1, -1, k).
    Scaling those constants and dropping the stored intermediate shapes is all it takes.
    """
    if size == exported_size:
        return str(path)
    import onnx  # only needed for this rewrite
    from onnx import numpy_helper

    model = onnx.load(str(path))
    constants = {init.name: init for init in model.graph.initializer}
    resize_sizes = {node.input[3] for node in model.graph.node
                    if node.op_type == "Resize" and len(node.input) == 4 and node.input[3] in constants}
    for name in resize_sizes:
        sizes = numpy_helper.to_array(constants[name]).copy()
        sizes[2:] = sizes[2:] * size // exported_size
        constants[name].CopyFrom(numpy_helper.from_array(sizes, name))
    del model.graph.value_info[:]  # shapes inferred for 640 would contradict the new ones
    input_dims = model.graph.input[0].type.tensor_type.shape.dim
    input_dims[2].dim_value = input_dims[3].dim_value = size
    for output in model.graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "anchors"
    return model.SerializeToString()


class ScrfdDetector:
    """SCRFD-2.5G with 5 keypoints in onnxruntime: letterboxed square input, 640x640 as exported.

    `scales` lists the sizes the image is shown to the network at, relative to the plain letterbox.
    Why a second, half-size copy (default (1.0, 0.5)): SCRFD was trained on WIDER FACE, where faces
    are mostly small, so a close-up face filling the frame (a trailer's most common shot) scores low,
    around the 0.5 threshold or below, while the same face at half size scores high. Detections of
    both copies are merged by NMS. For landscape frames both copies share one canvas (see
    `plan_canvases`), so the extra pass is nearly free; square images need a second inference.
    Use `scales=(1.0,)` for a single pass.

    `input_size` (a multiple of 32, default 640 as exported) runs the same weights on a smaller
    square: the graph is convolutional except for two upsampling sizes, which are rewritten in
    memory. On a 2-core machine 480 cost ~60% of 640's CPU time and still found all 29 Solvay faces;
    320 cost ~28% and lost the 3 smallest. Trailer close-ups do not need 640.
    """

    exported_size = 640
    strides = (8, 16, 32)
    anchors_per_cell = 2

    def __init__(self, model_path: str | Path | None = None, *, score_threshold: float = 0.5,
                 nms_threshold: float = 0.4, scales: Sequence[float] = (1.0, 0.5), input_size: int = 640,
                 threads: int | None = None, spin_wait: bool = False,
                 providers: Sequence[str] = ("CPUExecutionProvider",)):
        import onnxruntime  # heavy import: only when a detector is built

        if not scales or not all(0 < scale <= 1 for scale in scales):
            raise ValueError(f"SCRFD scales must be fractions in (0, 1] of the letterbox size, not {scales}")
        if input_size % 32 or input_size <= 0:
            raise ValueError(f"SCRFD input_size must be a positive multiple of 32 (its coarsest stride), "
                             f"not {input_size}")
        self.model_path = Path(model_path) if model_path is not None else locate("scrfd_2.5g_kps")
        self.input_size = input_size
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold
        self.scales = tuple(scales)
        self.threads = min(threads or available_threads(), available_threads())
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # onnxruntime's worker threads busy-wait between runs by default. On a 2-core machine shared
        # with video decoding or other partitions, that spinning steals the cores the others need:
        # measured under load, a run took ~190 ms without spinning and ~285 ms with it; on an idle
        # machine the two were within noise (~50 ms). spin_wait=True restores onnxruntime's default.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin_wait else "0")
        model = _scrfd_graph_for_size(self.model_path, input_size, self.exported_size)
        self._session = onnxruntime.InferenceSession(model, options, providers=list(providers))
        self._input_name = self._session.get_inputs()[0].name
        self._output_names = [f"{head}_{stride}" for head in ("score", "bbox", "kps") for stride in self.strides]
        self._anchor_centers = {stride: self._anchor_grid(stride) for stride in self.strides}
        self._canvas = np.zeros((self.input_size, self.input_size, 3), dtype=np.uint8)
        self._plans: dict[tuple[int, int], list[list[_Placement]]] = {}  # per frame shape: videos repeat it

    def _anchor_grid(self, stride: int) -> np.ndarray:
        """Centres of the anchors (top-left of each cell, as SCRFD was trained), repeated per anchor."""
        cells = self.input_size // stride
        ys, xs = np.mgrid[:cells, :cells]
        centers = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
        return np.repeat(centers, self.anchors_per_cell, axis=0)

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        """Faces in the image, best score first."""
        image = _as_bgr(image_bgr)
        height, width = image.shape[:2]
        plan = self._plans.get((height, width))
        if plan is None:
            plan = self._plans[(height, width)] = plan_canvases(height, width, self.scales, self.input_size)
        found = [self._detect_canvas(image, placements) for placements in plan]
        boxes = np.concatenate([f[0] for f in found])
        scores = np.concatenate([f[1] for f in found])
        keypoints = np.concatenate([f[2] for f in found])
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        kept = nms(boxes, scores, self.nms_threshold)
        return [Face(tuple(float(v) for v in boxes[i]), float(scores[i]), keypoints[i]) for i in kept]

    def _detect_canvas(self, image: np.ndarray, placements: list[_Placement]):
        """Run the network once on a canvas holding the given copies; candidates in image pixels."""
        self._canvas.fill(0)
        for place in placements:
            resized = cv2.resize(image, (place.width, place.height), interpolation=cv2.INTER_AREA)
            self._canvas[place.y0:place.y0 + place.height, place.x0:place.x0 + place.width] = resized
        blob = cv2.dnn.blobFromImage(self._canvas, 1 / 128, (self.input_size, self.input_size),
                                     (127.5, 127.5, 127.5), swapRB=True)
        outputs = dict(zip(self._output_names, self._session.run(self._output_names, {self._input_name: blob})))
        boxes, scores, keypoints = self._decode(outputs)
        return self._to_image(boxes, scores, keypoints, placements)

    def _decode(self, outputs: dict[str, np.ndarray]):
        """Boxes, scores and keypoints above the threshold, in canvas pixels, for all strides."""
        all_boxes, all_scores, all_keypoints = [], [], []
        for stride in self.strides:
            scores = outputs[f"score_{stride}"][0, :, 0]
            above = np.flatnonzero(scores >= self.score_threshold)
            centers = self._anchor_centers[stride][above]
            distances = outputs[f"bbox_{stride}"][0, above] * stride
            all_boxes.append(np.hstack([centers - distances[:, :2], centers + distances[:, 2:]]))
            all_scores.append(scores[above])
            offsets = outputs[f"kps_{stride}"][0, above].reshape(-1, 5, 2) * stride
            all_keypoints.append(centers[:, None, :] + offsets)
        return np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_keypoints)

    @staticmethod
    def _to_image(boxes, scores, keypoints, placements: list[_Placement]):
        """Assign each candidate to the copy its box centre lies in and map it back to image pixels."""
        centers = (boxes[:, :2] + boxes[:, 2:]) / 2
        mapped = ([], [], [])
        for place in placements:
            inside = place.contains(centers)
            mapped[0].append(place.to_image(boxes[inside].reshape(-1, 2, 2)).reshape(-1, 4))
            mapped[1].append(scores[inside])
            mapped[2].append(place.to_image(keypoints[inside]))
        return tuple(np.concatenate(parts).astype(np.float32) for parts in mapped)


# --------------------------------------------------------------------------------------------- YuNet

class YunetDetector:
    """YuNet through cv2.FaceDetectorYN (OpenCV's own decoding and NMS).

    `max_side` shrinks larger images before detection (None: full resolution). The network has a
    dynamic input size, so the input size is set per image shape, only when the shape changes.
    Threads follow OpenCV's global setting (cv2.setNumThreads), which this class leaves alone.
    The default score threshold is 0.6, not the 0.9 of OpenCV's sample: the faces in the 1927 Solvay
    photo score 0.86-0.95, and 0.9 would drop some of them.
    """

    def __init__(self, model_path: str | Path | None = None, *, score_threshold: float = 0.6,
                 nms_threshold: float = 0.3, top_k: int = 5000, max_side: int | None = None):
        self.model_path = Path(model_path) if model_path is not None else locate("yunet")
        self.max_side = max_side
        self._detector = cv2.FaceDetectorYN.create(str(self.model_path), "", (320, 320),
                                                   score_threshold, nms_threshold, top_k)
        self._input_size: tuple[int, int] | None = None

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        """Faces in the image, best score first."""
        image = _as_bgr(image_bgr)
        height, width = image.shape[:2]
        factor = 1.0
        if self.max_side and max(height, width) > self.max_side:
            factor = self.max_side / max(height, width)
            image = cv2.resize(image, (round(width * factor), round(height * factor)),
                               interpolation=cv2.INTER_AREA)
        size = (image.shape[1], image.shape[0])
        if size != self._input_size:
            self._detector.setInputSize(size)
            self._input_size = size
        _, rows = self._detector.detect(image)
        faces = [self._face(row, factor, width, height) for row in ([] if rows is None else rows)]
        return sorted(faces, key=lambda face: -face.score)

    @staticmethod
    def _face(row: np.ndarray, factor: float, width: int, height: int) -> Face:
        """One FaceDetectorYN row (x, y, w, h, 5 keypoints, score) -> Face in original pixels."""
        x, y, w, h = (row[:4] / factor).tolist()
        box = (max(0.0, x), max(0.0, y), min(float(width), x + w), min(float(height), y + h))
        return Face(box, float(row[14]), (row[4:14].reshape(5, 2) / factor).astype(np.float32))


# ------------------------------------------------------------------------------------------- helpers

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
