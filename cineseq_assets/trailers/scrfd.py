"""What the SCRFD face detector's network sees: the resized copies of an image, their inputs, and
the exported graph with a free input size.

Shared by the detector (`faces.ScrfdDetector`) and the int8 derivation (`quantize`), which must
show the network exactly the same inputs. Plain Python: no Dagster here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Accept grayscale and BGRA frames too: both detectors need 3-channel uint8."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


@dataclass(frozen=True)
class ScaledCopy:
    """One resized copy of the image, alone in its network input: top-left, black padding to a multiple of 32."""

    scale: float  # input pixels per image pixel
    width: int
    height: int

    @property
    def input_shape(self) -> tuple[int, int]:
        """(height, width) of the network input: the copy rounded up to the coarsest stride."""
        return _align_up(self.height, 32), _align_up(self.width, 32)

    def contains(self, points: np.ndarray) -> np.ndarray:
        x, y = points[:, 0], points[:, 1]
        return (x >= 0) & (x < self.width) & (y >= 0) & (y < self.height)

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Input (x, y) pairs in the last axis -> image pixels."""
        return points / self.scale


def _align_up(value: int, step: int) -> int:
    return -(-value // step) * step


def plan_copies(height: int, width: int, scales: Sequence[float], size: int = 640) -> list[ScaledCopy]:
    """The copies of a `height`x`width` image the network sees, one inference each.

    Scale 1.0 is the usual letterbox (longer side = size), but each copy's input is only as large
    as the copy itself rounded up to 32, not a `size`x`size` square: the network is convolutional,
    so black padding costs as much as picture. A 16:9 frame at 640 is a 640x384 input plus a
    320x192 one, 25% fewer pixels than the square (30% black) that both copies used to share.
    """
    fit = size / max(height, width)
    return [ScaledCopy(fit * relative, max(1, round(width * fit * relative)), max(1, round(height * fit * relative)))
            for relative in scales]


def resized_copies(image: np.ndarray, copies: Sequence[ScaledCopy]) -> list[np.ndarray]:
    """The image resized for each copy (INTER_AREA); a copy of exactly half the previous one from it.

    Halving 640x360 to 320x180 averages 2x2 blocks: within one grey level of resizing the 720p
    frame again, at a fourteenth of the cost (0.07 against 1.0 ms on the 2-core machine). Other
    ratios are resized from the image itself, as before.
    """
    resized: list[np.ndarray] = []
    for copy in copies:
        previous = resized[-1] if resized else None
        halves = previous is not None and previous.shape[:2] == (2 * copy.height, 2 * copy.width)
        source = previous if halves else image
        resized.append(cv2.resize(source, (copy.width, copy.height), interpolation=cv2.INTER_AREA))
    return resized


def network_input(resized: np.ndarray, copy: ScaledCopy) -> np.ndarray:
    """The NCHW float32 input for one copy (`resized` to its size): black padding, RGB, (x - 127.5) / 128.

    The same numbers as cv2.dnn.blobFromImage(padded, 1 / 128, mean=127.5, swapRB=True) in a
    quarter of its time (0.7 against 2.7 ms for 640x384).
    """
    height, width = copy.input_shape
    blob = np.full((1, 3, height, width), -127.5 / 128, dtype=np.float32)
    for channel, plane in enumerate(cv2.split(resized)[::-1]):  # BGR -> RGB
        np.multiply(plane, np.float32(1 / 128), out=blob[0, channel, :copy.height, :copy.width], dtype=np.float32)
        blob[0, channel, :copy.height, :copy.width] -= np.float32(127.5 / 128)
    return blob


def network_inputs(image_bgr: np.ndarray, scales: Sequence[float] = (1.0, 0.5),
                   size: int = 640) -> list[np.ndarray]:
    """The inputs SCRFD sees for this image, one per copy (also the int8 model's calibration data)."""
    image = as_bgr(image_bgr)
    copies = plan_copies(*image.shape[:2], scales, size)
    return [network_input(resized, copy) for resized, copy in zip(resized_copies(image, copies), copies)]


def dynamic_scrfd_graph(path: Path):
    """The exported graph (an onnx.ModelProto) with a free input height and width.

    The export fixes the input to 640x640 and the two FPN upsampling targets to 40x40 and 80x80
    (Resize with constant `sizes`); everything else is convolution or Reshape(1, -1, k). Asking the
    Resizes for a factor of 2 instead (`scales`; nearest, asymmetric, floor: the same pixels) frees
    the input shape, so one session serves every input whose sides are multiples of 32.
    """
    import onnx  # only needed to build the session
    from onnx import numpy_helper

    model = onnx.load(str(path))
    constants = {init.name: init for init in model.graph.initializer}
    model.graph.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "upsample_x2"))
    for node in model.graph.node:
        if node.op_type == "Resize" and len(node.input) == 4 and node.input[3] in constants:
            model.graph.initializer.remove(constants.pop(node.input[3]))
            node.input[2] = "upsample_x2"
            del node.input[3]
    del model.graph.value_info[:]  # shapes inferred for 640x640 would contradict the free ones
    input_dims = model.graph.input[0].type.tensor_type.shape.dim
    input_dims[2].dim_param, input_dims[3].dim_param = "height", "width"
    for output in model.graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "anchors"
    return model
