"""Small transfer networks on the real ImageNet MobileNetV2, for the frozen-part tests."""

import copy

import pytest
import torch

from cineseq_assets.frames.mobilenet import load_imagenet
from cineseq_assets.frames.nets import FROZEN_ALL, transfer_net


@pytest.fixture(scope="module")
def backbone():
    return load_imagenet()


@pytest.fixture
def small_net(backbone):
    """``small_net(block)``: a seeded 3-genre, 5-class transfer net frozen up to ``block``, on its own copy
    of the backbone (a test may train it without changing the next one's)."""
    def make(block: int = FROZEN_ALL):
        torch.manual_seed(0)
        return transfer_net(3, 5, block, backbone=copy.deepcopy(backbone))

    return make
