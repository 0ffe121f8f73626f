"""Keras hdf5 -> PyTorch -> ONNX for the FER mini-Xception, and numeric comparison of models.

The shared ONNX teacher was converted with tf2onnx; this module reproduces it without TensorFlow
(PyTorch port in :mod:`mini_xception`, then ``onnx_graphs.export_checked``), so the conversion can be checked
and redone offline. :func:`max_abs_difference` compares any two of: ONNX files, ONNX sessions and
PyTorch modules, on the same batch.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Union

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from cineseq_assets.onnx_graphs import export_checked
from cineseq_assets.processes import onnx_cpu_session
from cineseq_assets.storage import write_bytes_atomic
from cineseq_assets.trailers.mini_xception import mini_xception_from_keras

OPSET = 18
INPUT_NAME, OUTPUT_NAME = "input", "predictions"
CHECK_TOLERANCE = 1e-4  # largest absolute difference between the graph and PyTorch, on [0, 1] pixels

ModelLike = Union[str, Path, ort.InferenceSession, nn.Module]


def export_nchw_onnx(model: nn.Module, onnx_path: str | Path, input_shape: tuple[int, int, int],
                     metadata: dict[str, str] | None = None, what: str = "emotion network") -> Path:
    """Export ``model`` to ONNX: input ``input`` [N, C, H, W] with a dynamic N, output ``predictions``.

    Uses the torch.export-based exporter, whose optimizer folds each BatchNormalization into its
    convolution and leaves a plain graph (Conv, Relu, MaxPool, Add, ReduceMean, Softmax), written as
    one self-contained file with ``metadata`` in its properties, once it reproduced PyTorch.
    """
    example = np.random.default_rng(0).uniform(0, 1, (2, *input_shape)).astype(np.float32)
    data = export_checked(model, {INPUT_NAME: example}, [OUTPUT_NAME], dynamo=True, opset=OPSET,
                          dynamic={INPUT_NAME: {0: "batch"}}, metadata=metadata,
                          tolerance=CHECK_TOLERANCE, what=what)
    return write_bytes_atomic(data, Path(onnx_path))


def convert_keras_to_onnx(h5_path: str | Path, onnx_path: str | Path) -> Path:
    """Convert the Keras mini-Xception at ``h5_path`` to ONNX at ``onnx_path`` (same contract as the shared file)."""
    model = mini_xception_from_keras(h5_path)
    return export_nchw_onnx(model, onnx_path, model.input_shape, what="mini-Xception converted from Keras")


def predictor(model: ModelLike) -> Callable[[np.ndarray], np.ndarray]:
    """A function batch -> outputs for an ONNX path, an onnxruntime session or a PyTorch module."""
    if isinstance(model, nn.Module):
        def run_torch(batch: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model.eval()(torch.from_numpy(batch)).numpy()
        return run_torch
    session = model if isinstance(model, ort.InferenceSession) else onnx_cpu_session(model)
    input_name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {input_name: batch})[0]


def max_abs_difference(model_a: ModelLike, model_b: ModelLike, batch: np.ndarray) -> float:
    """Largest absolute difference between the two models' outputs on ``batch`` (float32, NCHW)."""
    batch = np.ascontiguousarray(batch, dtype=np.float32)
    out_a, out_b = predictor(model_a)(batch), predictor(model_b)(batch)
    if out_a.shape != out_b.shape:
        raise ValueError(f"the models disagree on the output shape: {out_a.shape} vs {out_b.shape}")
    return float(np.abs(out_a - out_b).max())


def check_conversion(h5_path: str | Path, reference_onnx: str | Path, batch: np.ndarray) -> float:
    """Convert ``h5_path`` in a scratch folder and return its max difference from ``reference_onnx`` on ``batch``."""
    with tempfile.TemporaryDirectory() as scratch:
        converted = convert_keras_to_onnx(h5_path, Path(scratch) / "converted.onnx")
        return max_abs_difference(converted, reference_onnx, batch)
