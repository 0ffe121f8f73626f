"""SCRFD in 8 bits: derived from the float model once at setup, cached in the user cache, never shipped.

`cineseq models prepare` derives it (``scripts/setup.sh``, and so ``main.sh`` and ``test.sh``, run that after
installing); a detector only ever loads the cached file, so no user's first analysis waits for it.

Static quantization with onnxruntime.quantization: QDQ format, int8 weights per output channel,
uint8 activations whose ranges (MinMax) come from real video frames shown to the network exactly
as the detector shows them (`scrfd.network_inputs`, at the default 640 letterbox and scales).
Everything is local: the float model is the verified third-party file, the frames come from the
shared media folder. Deriving takes 10-20 s on 2 cores, once per machine.

The first convolution and the nine output heads stay in float (see `float_nodes`): quantizing
them moved scores by up to 0.15 on small faces, and they cost little. Measured on the 2-core
machine against the float model: every gate image keeps its face count, matched boxes overlap
with IoU >= 0.95, scores move by <= 0.05; a 720p frame costs about half the CPU (22.0 against
44.0 ms, benchmarks/trailers.py).

The derived file's name carries the source file's sha256, a hash of the recipe and the
onnxruntime version, so a new model, a changed recipe or another onnxruntime makes a new file
instead of reusing a stale one. Plain Python: no Dagster here.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from cineseq_assets.errors import CineSeqError
from cineseq_assets.model_files import cache_dir, file_sha256
from cineseq_assets.settings import shared_dir
from cineseq_assets.storage import write_atomic

from .scrfd import dynamic_scrfd_graph, network_inputs

# Clips of shared/media, at CALIBRATION_RATE frames per second: a talking face in close-up, two
# single faces, a scene that loses its face, a cartoon and an empty scene. The gate images of the
# tests (Solvay, Newton, Gauss, multi_face) are deliberately not among them.
CALIBRATION_VIDEOS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov",
                      "bigbuckbunny_5s_720p.mp4", "no_face.mp4")
CALIBRATION_RATE = 1.0

# Everything that decides the derived file's bytes besides the source model and onnxruntime.
RECIPE = {"format": "QDQ", "weights": "int8 per channel", "activations": "uint8", "calibration": "MinMax",
          "opset": 13, "float": "first conv, output heads", "videos": CALIBRATION_VIDEOS,
          "rate": CALIBRATION_RATE, "letterbox": 640, "scales": (1.0, 0.5), "resize": "a half copy from the copy before it"}


class QuantizationError(CineSeqError):
    """The int8 model could not be derived (most often: the calibration clips are missing)."""


def shared_media_dir() -> Path:
    """The media/ folder of the shared data folder (``settings.shared_dir``), as the trailer assets use it."""
    return shared_dir() / "media"


def int8_path(source: Path) -> Path:
    """Where the int8 model derived from the float model at `source` is cached."""
    import onnxruntime

    recipe = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:12]
    return (cache_dir() / "derived" /
            f"scrfd_2.5g_kps-int8-{file_sha256(Path(source))[:16]}-{recipe}-ort{onnxruntime.__version__}.onnx")


def prepared_int8(source: Path) -> Path | None:
    """The cached int8 model derived from the float model at `source`, or None when not prepared yet."""
    target = int8_path(source)
    return target if target.is_file() else None


class Int8NotPreparedError(QuantizationError):
    """The int8 model was asked for by name but has not been derived on this machine."""

    def __init__(self, source: Path):
        super().__init__(
            f"the int8 SCRFD model for {source} is not prepared on this machine (expected {int8_path(source)}). "
            "Run `cineseq models prepare` once (10-20 s; scripts/setup.sh does it), "
            "or use precision='fp32' or 'auto'.")


def int8_scrfd(source: Path, media_dir: Path | None = None) -> Path:
    """The cached int8 model for the float model at `source`, derived first if it is not there yet (setup only).

    The file appears atomically: workers that start together may each derive it; the last one wins.
    """
    target = int8_path(source)
    if target.is_file():
        return target
    media = Path(media_dir) if media_dir is not None else shared_media_dir()
    missing = [name for name in CALIBRATION_VIDEOS if not (media / name).is_file()]
    if missing:
        raise QuantizationError(
            f"cannot derive the int8 SCRFD model: its calibration clips {', '.join(missing)} are not in "
            f"{media}. Set CINESEQ_SHARED to the shared folder that holds media/, or use precision='fp32'.")
    inputs = (blob for frame in calibration_frames(media)
              for blob in network_inputs(frame, RECIPE["scales"], RECIPE["letterbox"]))
    return write_atomic(target, lambda staged: quantize_scrfd(source, Path(staged), inputs))


def calibration_frames(media: Path) -> Iterator[np.ndarray]:
    """BGR frames of the calibration clips at CALIBRATION_RATE frames per second."""
    for name in CALIBRATION_VIDEOS:
        capture = cv2.VideoCapture(str(media / name))
        every = max(1, round((capture.get(cv2.CAP_PROP_FPS) or 25) / CALIBRATION_RATE))
        for index in itertools.count():
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                yield frame
        capture.release()


def quantize_scrfd(source: Path, target: Path, inputs: Iterable[np.ndarray]) -> None:
    """Write the int8 QDQ model of the float SCRFD at `source`, calibrated on the NCHW float `inputs`."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    blobs = iter(inputs)
    first = next(blobs, None)
    if first is None:
        raise QuantizationError("cannot derive the int8 SCRFD model: no calibration frame could be decoded")

    class Reader(CalibrationDataReader):
        def __init__(self, name: str):
            self.name, self.blobs = name, itertools.chain([first], blobs)

        def get_next(self):
            blob = next(self.blobs, None)
            return None if blob is None else {self.name: blob}

    # Per-channel QDQ needs opset 13 (DequantizeLinear's axis); the export is opset 11.
    model = version_converter.convert_version(dynamic_scrfd_graph(source), RECIPE["opset"])
    # quantize_static logs advice about its own pre-processing on the root logger: not for our users.
    with tempfile.TemporaryDirectory(prefix="cineseq-quantize-") as scratch, _root_log_level(logging.ERROR):
        float_path = Path(scratch) / "float.onnx"  # the calibrator reads a file
        onnx.save(model, str(float_path))
        quantize_static(str(float_path), str(target), Reader(model.graph.input[0].name),
                        quant_format=QuantFormat.QDQ, per_channel=True, nodes_to_exclude=float_nodes(model),
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def float_nodes(model) -> list[str]:
    """The nodes kept in float: the first convolution and its activation, and the output heads.

    The heads (each output back to its last convolution): a quantized score head clips its logits
    at the largest value seen in calibration. The clips have few small faces, so in the stride-8
    head every Solvay face came out at the same clipped score, 0.55 instead of 0.73-0.86, one step
    from the 0.5 threshold. The first convolution: quantizing its output still moved small faces'
    scores by up to 0.15; in float they move by <= 0.05. Neither costs much: the heads are ~10% of
    the network's time, and the first convolution (3 -> 12 channels) was no faster in int8.
    """
    producer = {output: node for node in model.graph.node for output in node.output}
    consumers = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    (first,) = consumers[model.graph.input[0].name]
    kept = [first.name] + [node.name for node in consumers[first.output[0]] if node.op_type == "Relu"]
    for output in model.graph.output:
        node = producer[output.name]
        while True:
            kept.append(node.name)
            if node.op_type == "Conv":
                break
            node = producer[node.input[0]]
    return kept


@contextlib.contextmanager
def _root_log_level(level: int):
    root = logging.getLogger()
    before = root.level
    root.setLevel(max(level, before))
    try:
        yield
    finally:
        root.setLevel(before)
