"""Torch modules exported to ONNX and checked against PyTorch: the one module that calls ``torch.onnx.export``.

Every ONNX graph the project writes goes through :func:`export_checked`: the forecaster's network,
the frozen MobileNetV2 blocks of the frame classifier, the emotion teacher converted from Keras and
the distilled student. So each is refused when onnxruntime does not reproduce PyTorch on an example
batch, and each exporter's quirks are handled here once.

torch 2.13 has two exporters:
- the TorchScript one (``dynamo=False``) exports these small networks in about a second. It is
  deprecated, and its warning is silenced here;
- the torch.export-based one (``dynamo=True``) takes 10-20x longer, but its optimizer folds each
  BatchNormalization into its convolution and leaves a plain graph. torch.export specializes a
  dimension of size 1, so a dynamic axis needs an example of 2 rows or more.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import onnx
import torch

from .processes import onnx_cpu_session

# {input or output name: {axis: label}}; axes that share a label share their size.
DynamicAxes = Mapping[str, Mapping[int, str]]


def export_checked(module: torch.nn.Module, example: Mapping[str, np.ndarray], output_names: Sequence[str], *,
                   dynamic: DynamicAxes, opset: int, tolerance: float, what: str, dynamo: bool = False,
                   metadata: Mapping[str, str] | None = None, check_rows: Sequence[slice] = (slice(None),)) -> bytes:
    """The serialized ONNX graph of ``module``, refused unless onnxruntime reproduces PyTorch.

    ``example`` holds the module's positional inputs in order, by the names the graph gives them.
    ``metadata`` goes into the graph's metadata properties. The graph is run on each ``check_rows``
    slice of the example. If an output differs from PyTorch by more than ``tolerance`` (largest
    absolute difference), a RuntimeError names ``what`` and the output.
    """
    module = module.eval()
    data = _export(module, example, list(output_names), dynamic, opset, dynamo)
    model = onnx.load_from_string(data)
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    check_against_torch(data, module, example, output_names, tolerance, what, check_rows)
    return data


def check_against_torch(data: bytes, module: torch.nn.Module, example: Mapping[str, np.ndarray],
                        output_names: Sequence[str], tolerance: float, what: str,
                        check_rows: Sequence[slice] = (slice(None),)) -> None:
    """Raise RuntimeError when the graph ``data`` and ``module`` differ by more than ``tolerance`` on ``example``."""
    session = onnx_cpu_session(data, threads=1, quiet=True)
    for rows in check_rows:
        inputs = {name: value[rows] for name, value in example.items()}
        with torch.no_grad():
            expected = module(*(torch.from_numpy(value) for value in inputs.values()))
        expected = expected if isinstance(expected, (tuple, list)) else (expected,)
        got = session.run(list(output_names), inputs)
        for name, want, have in zip(output_names, expected, got):
            difference = float(np.max(np.abs(want.numpy() - have)))
            if not difference <= tolerance:
                raise RuntimeError(f"the exported ONNX graph of the {what}: {name} differs from PyTorch by "
                                   f"{difference:.2e} (tolerance {tolerance}); nothing was written")


def _export(module: torch.nn.Module, example: Mapping[str, np.ndarray], output_names: list[str],
            dynamic: DynamicAxes, opset: int, dynamo: bool) -> bytes:
    args = tuple(torch.from_numpy(value) for value in example.values())
    input_names = list(example)
    with torch.no_grad(), warnings.catch_warnings():
        if dynamo:
            # torch.export's own deprecation chatter, and the note that torchvision's ops are not registered
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message=".*will not be used, since it shares the same shape")
            logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
            dims = {label: torch.export.Dim(label) for axes in dynamic.values() for label in axes.values()}
            shapes = tuple({axis: dims[label] for axis, label in dynamic.get(name, {}).items()} or None
                           for name in input_names)
            program = torch.onnx.export(module, args, input_names=input_names, output_names=output_names,
                                        opset_version=opset, dynamo=True, dynamic_shapes=shapes, verbose=False)
            return program.model_proto.SerializeToString()
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's deprecation
        buffer = io.BytesIO()
        torch.onnx.export(module, args, buffer, input_names=input_names, output_names=output_names,
                          opset_version=opset, dynamo=False, dynamic_axes={name: dict(axes) for name, axes in dynamic.items()})
        return buffer.getvalue()
