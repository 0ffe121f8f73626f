"""MobileNetV2 in plain PyTorch, laid out exactly like torchvision's ``mobilenet_v2()``.

torchvision is not a dependency of this project, but its published ImageNet weights
(``mobilenet_v2-b0353104.pth``, the registry's ``mobilenet_v2_imagenet``) are the backbone of the
frame stage. Why not ``torchvision.models.mobilenet_v2`` itself: torchvision 0.28.0 (the release for
torch 2.13) on PyPI is built against CUDA torch, and with the CPU torch this project installs
``import torchvision`` fails (its ``_C.so`` needs ``libc10_cuda.so``: "operator torchvision::nms does
not exist"); its CPU build is published only on PyTorch's own package index.

The weights file is a plain state dict keyed by torchvision's module names, so this module
rebuilds the same tree (``features.0`` .. ``features.18``, ``classifier``) with the same child
indices, and :func:`load_imagenet` loads it strictly: a key that does not match is an error, never
a silently random layer.

Output of ``features[:k]`` (verified by running; the side is the input side over the stride; the
last column is the float16 bytes per image of caching it at 160x160):

=======  ========  ======  ===========  ===============
k        channels  stride  160 / 224    fp16 cache @160
=======  ========  ======  ===========  ===============
1        32        2       80 / 112     409,600
2        16        2       80 / 112     204,800
3-4      24        4       40 / 56      76,800
5-7      32        8       20 / 28      25,600
8-11     64        16      10 / 14      12,800
12-14    96        16      10 / 14      19,200
15-17    160       32      5 / 7        8,000
18       320       32      5 / 7        16,000
19       1280      32      5 / 7        64,000
=======  ========  ======  ===========  ===============

``features[k]`` for k = 7, 11, 14 and 17 is the first block of a new stage (it changes the channel
count), so those are the natural split points.

Weights recipe (torchvision's IMAGENET1K_V1 for this file): resize the short side to 256, centre
crop 224, scale to [0, 1], normalise with :data:`IMAGENET_MEAN` / :data:`IMAGENET_STD`, RGB order.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

# RGB order, on [0, 1] pixels: the statistics the published weights were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

EMBEDDING_DIM = 1280

# (expansion t, output channels c, repeats n, first stride s) of the paper's Table 2, width 1.0.
_BLOCKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class ConvBNReLU6(nn.Sequential):
    """Conv (no bias) + BatchNorm + ReLU6: children ``0``, ``1``, ``2`` as in torchvision's
    ``Conv2dNormActivation``, so the weight keys read ``<name>.0.weight`` and ``<name>.1.running_mean``."""

    def __init__(self, inp: int, out: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise 3x3 -> linear project (1x1), with a skip when shapes allow.

    ``conv`` holds the layers under torchvision's indices: with expansion, ``conv.0`` expand,
    ``conv.1`` depthwise, ``conv.2`` projection conv, ``conv.3`` its BatchNorm; the first block
    (expansion 1) has no expand layer, so its indices start at the depthwise conv.
    """

    def __init__(self, inp: int, out: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = inp * expand_ratio
        self.use_res_connect = stride == 1 and inp == out
        layers: list[nn.Module] = [ConvBNReLU6(inp, hidden, kernel=1)] if expand_ratio != 1 else []
        layers += [
            ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out, 1, bias=False),
            nn.BatchNorm2d(out),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2, width 1.0: ``features`` (stem, 17 inverted residuals, 1x1 conv to 1280) and
    ``classifier`` (Dropout, Linear), named as torchvision names them."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        layers: list[nn.Module] = [ConvBNReLU6(3, 32, stride=2)]
        channels = 32
        for t, c, n, s in _BLOCKS:
            for i in range(n):
                layers.append(InvertedResidual(channels, c, s if i == 0 else 1, t))
                channels = c
        layers.append(ConvBNReLU6(channels, EMBEDDING_DIM, kernel=1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(EMBEDDING_DIM, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's initialisation, so a model trained from scratch starts where theirs did."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised images -> (N, 1280) globally average-pooled features."""
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised images -> (N, num_classes) logits."""
        return self.classifier(self.embed(x))


def load_imagenet(path: Path | str | None = None) -> MobileNetV2:
    """The ImageNet-pretrained network in eval mode, every weight loaded from ``path``.

    ``path`` defaults to the registry's verified ``mobilenet_v2_imagenet`` file (``models.locate``
    raises ModelNotFoundError / ModelChecksumError itself). The file is read with
    ``weights_only=True``: a state dict needs no code, and a full pickle could run any. A file whose
    keys or shapes differ from the model raises ValueError naming the file and the keys, rather than
    leaving any layer at its random initialisation.
    """
    if path is None:
        from cineseq_assets import model_files as models

        path = models.locate("mobilenet_v2_imagenet")
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise  # missing or unreadable: the error already says so
    except Exception as problem:  # garbage, truncated or code-carrying files raise unrelated types
        raise ValueError(f"{path}: not a PyTorch state dict that loads with weights_only=True "
                         f"({type(problem).__name__})") from problem
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: expected a state dict of MobileNetV2 weights, found {type(state).__name__}")
    model = MobileNetV2()
    expected, found = set(model.state_dict()), set(state)
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if missing or unexpected:
        raise ValueError(f"{path}: not torchvision MobileNetV2 weights: missing keys {missing}, "
                         f"unexpected keys {unexpected}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as problem:  # same keys, other shapes (e.g. a different width or class count)
        raise ValueError(f"{path}: weights do not fit MobileNetV2: {problem}") from problem
    return model.eval()


def split_at(model: MobileNetV2, block: int) -> tuple[nn.Sequential, nn.Sequential]:
    """(frozen, trainable): ``features[:block]`` and ``features[block:]`` + global pooling + flatten.

    The point is to run the early blocks once per image, cache their activations, and fine-tune only
    the late ones: ``trainable(frozen(x))`` equals ``model.embed(x)`` (1280-d). Both parts share the
    model's modules, so training ``trainable`` trains ``model``. The frozen part has its gradients
    switched off and is put in eval mode, because the cached activations were computed with its
    BatchNorm running statistics; keep it in eval mode (``model.train()`` would flip it back).
    See the module docstring for the shape each ``block`` yields (e.g. 14: 96 channels at input/16).
    """
    if not 0 <= block <= len(model.features):
        raise ValueError(f"block must be in 0..{len(model.features)}, got {block}")
    frozen = model.features[:block]
    frozen.requires_grad_(False).eval()
    trainable = nn.Sequential(*model.features[block:], nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
    return frozen, trainable


def preprocess(images_rgb_uint8: np.ndarray, size: int) -> torch.Tensor:
    """(N, size, size, 3) uint8 RGB -> (N, 3, size, size) float32, scaled to [0, 1] and ImageNet-normalised.

    Resizing and cropping are the caller's: they depend on how frames were sampled, and doing them
    here would hide a second resize. uint8 is required because a float image may already be on
    [0, 1], and dividing it by 255 again would silently feed the network near-black frames.
    """
    images = np.asarray(images_rgb_uint8)
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB images, got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[1:] != (size, size, 3):
        raise ValueError(f"expected images of shape (N, {size}, {size}, 3), got {images.shape}; "
                         f"resize them to {size}x{size} first")
    # astype copies into a writable array (frames decoded by PIL or cv2 are often read-only).
    tensor = torch.from_numpy(images.astype(np.float32)).permute(0, 3, 1, 2).div_(255)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((tensor - mean) / std).contiguous()
