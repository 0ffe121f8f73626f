"""The two dual-head networks: a small CNN from scratch, and MobileNetV2 (ImageNet) with a new head.

Both end in the same ``DualHead``: a shared hidden layer, a genre head (one logit per genre, read
through a sigmoid) and a budget head (one logit per class, read through a softmax). A network maps
[0, 1] RGB pixels (N, 3, S, S) to (genre logits, budget logits); the ImageNet normalization is
inside, so callers never normalize twice.

Training the transfer model runs the frozen early blocks once per image and caches their output
(``trunk_from``): an epoch then costs only the trainable late blocks and the head.
"""

from __future__ import annotations

import torch
from torch import nn

from .mobilenet import EMBEDDING_DIM, IMAGENET_MEAN, IMAGENET_STD, MobileNetV2, load_imagenet, split_at

FROZEN_ALL = 19  # split point that freezes every MobileNetV2 block: only the head trains


class DualHead(nn.Module):
    def __init__(self, in_features: int, n_genres: int, n_budget: int, hidden: int = 256, dropout: float = 0.3):
        super().__init__()
        self.shared = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.genre = nn.Linear(hidden, n_genres)
        self.budget = nn.Linear(hidden, n_budget)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shared = self.shared(features)
        return self.genre(shared), self.budget(shared)


def _conv_block(inp: int, out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU())


class ScratchTrunk(nn.Sequential):
    """A strided stem, then per stage one 3x3 convolution and a 2x2 max-pool, then global average
    pooling. With channels 16-32-64-128-192 that is about 0.4 M weights, and 18 M multiply-adds per
    image at 64 px (41 M at 96 px): an epoch over 3,000 posters takes seconds, not minutes, on 2 cores."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 128, 192)):
        layers = [_conv_block(3, channels[0], stride=2)]
        for inp, out in zip(channels[:-1], channels[1:]):
            layers += [_conv_block(inp, out), nn.MaxPool2d(2)]
        super().__init__(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.out_features = channels[-1]


class FrameNet(nn.Module):
    """[0, 1] RGB pixels -> (genre logits, budget logits): normalization, trunk, dual head."""

    def __init__(self, trunk: nn.Module, head: DualHead):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.trunk, self.head = trunk, head

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """[0, 1] RGB -> the ImageNet-normalized input of the trunk."""
        return (pixels - self.mean) / self.std

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.trunk(self.normalize(pixels)))


def scratch_net(n_genres: int, n_budget: int, channels: tuple[int, ...] = (16, 32, 64, 128, 192)) -> FrameNet:
    trunk = ScratchTrunk(channels)
    return FrameNet(trunk, DualHead(trunk.out_features, n_genres, n_budget))


class TransferTrunk(nn.Module):
    """MobileNetV2 features split at ``block``: ``frozen`` (ImageNet weights, eval mode, no gradients)
    then ``tail`` (the blocks that train, pooled to the 1280-d embedding)."""

    def __init__(self, backbone: MobileNetV2, block: int):
        super().__init__()
        self.block = block
        self.frozen, self.tail = split_at(backbone, block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.frozen(x))

    def train(self, mode: bool = True) -> "TransferTrunk":
        super().train(mode)
        self.frozen.eval()  # its cached activations were computed with ImageNet BatchNorm statistics
        for module in self.tail.modules():  # small data: keep the ImageNet BatchNorm statistics too
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self


def transfer_net(n_genres: int, n_budget: int, block: int = FROZEN_ALL, backbone: MobileNetV2 | None = None) -> FrameNet:
    """MobileNetV2 with ImageNet weights, blocks before ``block`` frozen; FROZEN_ALL trains the head only."""
    trunk = TransferTrunk(backbone or load_imagenet(), block)
    return FrameNet(trunk, DualHead(EMBEDDING_DIM, n_genres, n_budget))


def trainable_state(net: FrameNet) -> dict[str, torch.Tensor]:
    """What a checkpoint must keep: everything for a scratch net; for a transfer net only the tail and
    the head (the frozen blocks are the registry's ImageNet weights, verified by sha256 at load)."""
    state = net.state_dict()
    if isinstance(net.trunk, TransferTrunk):
        return {k: v for k, v in state.items() if not k.startswith("trunk.frozen.")}
    return state
