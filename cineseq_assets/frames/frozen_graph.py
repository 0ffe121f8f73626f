"""The frozen MobileNetV2 blocks of a transfer FrameNet as an onnxruntime graph.

Why: on a 2-core CPU, onnxruntime runs MobileNetV2's frozen blocks about 3x faster than PyTorch
(160 px: 1.1 s against 4.0 s per 256 images on one thread; 24 s against 71 s for the 6,909 training
and validation posters and mirrors on two), and that pass is the largest part of a first
frame_classifier run (onnxruntime folds each BatchNorm into its convolution, among its graph optimizations).

The graph takes the images as they are held, (N, H, W, 3) RGB uint8 (any N and size), scales and
normalizes them as ``FrameNet.normalize`` does, and returns the activations after each of its
``stops`` (MobileNetV2 block indices, ascending); with ``pooled`` the last one is globally average
pooled to the 1280-d embedding. One pass thus gives what several split points read (feature_cache.py).

It is exported from the torch modules themselves (``onnx_graphs.export_checked``), so it carries exactly
their weights; an export that does not reproduce PyTorch within ``CHECK_TOLERANCE`` is refused.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..onnx_graphs import export_checked
from ..processes import onnx_cpu_session

OPSET = 17
INPUT = "pixels"
# Largest absolute difference allowed between the graph and PyTorch on the export check. The values
# are cached as float16 (a relative step of 1e-3), so a smaller difference cannot change what is kept.
CHECK_TOLERANCE = 1e-3


class FrozenPrefix(nn.Module):
    """uint8 (N, H, W, 3) RGB -> the activations after each stop (the last pooled when ``pooled``)."""

    def __init__(self, net, stops: tuple[int, ...], pooled: bool):
        super().__init__()
        self.net, self.stops, self.pooled = net, tuple(stops), pooled

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        hidden = self.net.normalize(pixels.permute(0, 3, 1, 2).float() / 255)
        outputs, start = [], 0
        for stop in self.stops:
            hidden = self.net.trunk.frozen[start:stop](hidden)
            outputs.append(hidden)
            start = stop
        if self.pooled:
            outputs[-1] = self.net.trunk.tail(hidden)
        return tuple(outputs)


def output_names(stops: tuple[int, ...]) -> list[str]:
    return [f"block{stop}" for stop in stops]


def export_graph(net, stops: tuple[int, ...], pooled: bool) -> bytes:
    """The serialized ONNX graph of ``FrozenPrefix(net, stops, pooled)``, checked against PyTorch."""
    names = output_names(stops)
    example = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    return export_checked(FrozenPrefix(net, stops, pooled), {INPUT: example}, names, opset=OPSET,
                          dynamic={INPUT: {0: "images", 1: "height", 2: "width"}, **{name: {0: "images"} for name in names}},
                          tolerance=CHECK_TOLERANCE, what="frozen MobileNetV2 blocks")


def session(data: bytes):
    """An onnxruntime CPU session on the cores this process may use (processes.onnx_cpu_session)."""
    return onnx_cpu_session(data, quiet=True)
