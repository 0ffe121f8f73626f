"""The plain-PyTorch MobileNetV2 against torchvision's published ImageNet weights and real photos."""

import copy

import numpy as np
import pytest
import torch
from PIL import Image

from cineseq_assets import model_files as models
from cineseq_assets.frames.mobilenet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MobileNetV2,
    load_imagenet,
    preprocess,
    split_at,
)

# ImageNet class indices (torchvision's category order) that fit the portraits below.
WIG, ACADEMIC_GOWN = 903, 400
PHOTOS = ["newton.png", "gauss.png", "single_face.jpg", "solvay_conference_1927.jpg"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: these forwards are small, and on a busy 2-core machine two threads wait
    on each other at every layer (measured 0.04 s with one thread against 0.2-1 s with two)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def weights_path():
    return models.locate("mobilenet_v2_imagenet")


@pytest.fixture(scope="module")
def pretrained(weights_path):
    return load_imagenet(weights_path)


def _square(path, size: int) -> np.ndarray:
    """Centre square crop, resized to size x size, as uint8 RGB."""
    image = Image.open(path).convert("RGB")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return np.asarray(image.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR))


@pytest.fixture(scope="module")
def photos(media):
    return preprocess(np.stack([_square(media / name, 224) for name in PHOTOS]), 224)


def test_every_key_of_the_published_weights_matches(weights_path):
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model = MobileNetV2()
    assert set(state) == set(model.state_dict())
    result = model.load_state_dict(state, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert sum(p.numel() for p in model.parameters()) == 3_504_872  # torchvision's published count


def test_load_imagenet_returns_the_file_weights_in_eval_mode(pretrained, weights_path):
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    assert not pretrained.training
    assert torch.equal(pretrained.features[18][0].weight, state["features.18.0.weight"])
    assert torch.equal(pretrained.classifier[1].bias, state["classifier.1.bias"])


def test_pretrained_network_classifies_real_photos_sensibly(pretrained, photos):
    with torch.no_grad():
        probabilities = pretrained(photos).softmax(dim=1)
    assert probabilities.shape == (len(PHOTOS), 1000)
    # Confident far beyond uniform (0.001) on every photo, and not one answer for all of them.
    assert (probabilities.max(dim=1).values > 0.05).all()
    assert not torch.allclose(probabilities[0], probabilities[1], atol=1e-3)
    top5 = probabilities.topk(5, dim=1).indices
    assert WIG in top5[PHOTOS.index("newton.png")]  # Newton's portrait wears a full wig
    assert ACADEMIC_GOWN in top5[PHOTOS.index("solvay_conference_1927.jpg")]


def test_embedding_barely_moves_under_a_horizontal_flip(pretrained, photos):
    with torch.no_grad():
        embedding = torch.nn.functional.normalize(pretrained.embed(photos), dim=1)
        flipped = torch.nn.functional.normalize(pretrained.embed(photos.flip(3)), dim=1)
    assert embedding.shape == (len(PHOTOS), 1280)
    flip_similarity = (embedding * flipped).sum(dim=1)
    pair_similarity = (embedding @ embedding.T)[~torch.eye(len(PHOTOS), dtype=torch.bool)]
    # Measured: flips 0.96-0.98, different photos 0.40-0.69.
    assert (flip_similarity > 0.9).all() and (pair_similarity < 0.8).all()
    assert flip_similarity.min() > pair_similarity.max() + 0.15


@pytest.mark.parametrize("block, channels, side", [(7, 32, 20), (11, 64, 10), (14, 96, 10), (17, 160, 5)])
def test_split_parts_compose_to_the_embedding(pretrained, block, channels, side):
    model = copy.deepcopy(pretrained)  # split_at freezes part of the model: a copy of its own
    frozen, trainable = split_at(model, block)
    x = torch.randn(2, 3, 160, 160, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        cached = frozen(x)
        assert cached.shape == (2, channels, side, side)
        torch.testing.assert_close(trainable(cached), model.embed(x), rtol=1e-5, atol=1e-5)
    assert not any(p.requires_grad for p in frozen.parameters())
    assert all(p.requires_grad for p in trainable.parameters())
    assert not frozen.training


def test_split_at_refuses_a_block_outside_the_features(pretrained):
    with pytest.raises(ValueError, match="block"):
        split_at(pretrained, 20)


def test_a_file_with_a_renamed_key_is_refused_by_name(weights_path, tmp_path):
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    state["classifier.1.kernel"] = state.pop("classifier.1.weight")
    wrong = tmp_path / "renamed.pth"
    torch.save(state, wrong)
    with pytest.raises(ValueError, match="renamed.pth") as caught:
        load_imagenet(wrong)
    assert "classifier.1.weight" in str(caught.value) and "classifier.1.kernel" in str(caught.value)


def test_a_file_with_wrong_shapes_is_refused_by_name(weights_path, tmp_path):
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    state["classifier.1.weight"] = state["classifier.1.weight"][:10]
    state["classifier.1.bias"] = state["classifier.1.bias"][:10]
    wrong = tmp_path / "ten_classes.pth"
    torch.save(state, wrong)
    with pytest.raises(ValueError, match="ten_classes.pth"):
        load_imagenet(wrong)


def test_a_file_that_is_not_a_state_dict_is_refused_by_name(tmp_path):
    wrong = tmp_path / "garbage.pth"
    wrong.write_bytes(b"not a checkpoint" * 8)
    with pytest.raises(ValueError, match="garbage.pth"):
        load_imagenet(wrong)

def test_preprocess_scales_and_normalises_per_channel():
    images = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    images[1] = 255
    images.setflags(write=False)  # as decoded frames often are; must not warn or fail
    tensor = preprocess(images, 8)
    assert tensor.shape == (2, 3, 8, 8) and tensor.dtype == torch.float32
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(tensor[0, :, 3, 5], -mean / std)
    torch.testing.assert_close(tensor[1, :, 3, 5], (1 - mean) / std)
    # Channel order is kept: a pure red image is high on channel 0 only.
    red = np.zeros((1, 8, 8, 3), dtype=np.uint8)
    red[..., 0] = 255
    assert preprocess(red, 8)[0, :, 0, 0].argmax() == 0


@pytest.mark.parametrize("images", [
    np.zeros((2, 8, 9, 3), dtype=np.uint8),  # not square
    np.zeros((2, 16, 16, 3), dtype=np.uint8),  # not resized
    np.zeros((8, 8, 3), dtype=np.uint8),  # no batch axis
    np.zeros((2, 8, 8, 3), dtype=np.float32),  # float: may already be on [0, 1]
])
def test_preprocess_refuses_images_it_would_misread(images):
    with pytest.raises(ValueError):
        preprocess(images, 8)
