"""The frozen MobileNetV2 blocks in onnxruntime: the graph gives the PyTorch modules' activations,
is exported once per set of frozen weights and kept beside the cached activations, and a transfer
model scored through it agrees with the whole network in PyTorch."""


import numpy as np
import pytest
import torch

from cineseq_assets.frames import frozen_graph
from cineseq_assets.frames.feature_cache import FeatureCache, frozen_part_output
from cineseq_assets.frames.nets import FROZEN_ALL
from cineseq_assets.frames.train import FrameTrainConfig, TrainedFrameModel, predict_images, predict_pixels, to_tensor

SIZE = 32
FINETUNE_BLOCK = 17


def _net(small_net, block: int = FROZEN_ALL):
    return small_net(block).eval()


def _pixels(n: int, size: int = SIZE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("size", [SIZE, 96])
def test_the_graph_gives_the_torch_modules_activations_at_every_stop(small_net, size):
    net, pixels = _net(small_net), _pixels(3, size)
    graph = frozen_graph.session(frozen_graph.export_graph(net, (FINETUNE_BLOCK, FROZEN_ALL), pooled=True))
    maps, pooled = graph.run(None, {frozen_graph.INPUT: pixels})
    with torch.no_grad():
        expected_maps = net.trunk.frozen[:FINETUNE_BLOCK](net.normalize(to_tensor(pixels)))
        expected_pooled = frozen_part_output(net, to_tensor(pixels))
    assert pooled.shape == (3, 1280) and maps.shape == tuple(expected_maps.shape)
    assert np.allclose(pooled, expected_pooled.numpy(), atol=1e-4, rtol=1e-4)
    assert np.allclose(maps, expected_maps.numpy(), atol=1e-4, rtol=1e-4)


def test_the_graph_is_exported_once_per_frozen_weights_and_read_from_its_file(small_net, tmp_path, monkeypatch):
    exports = []
    export = frozen_graph.export_graph
    monkeypatch.setattr(frozen_graph, "export_graph", lambda *args: exports.append(args) or export(*args))
    net, pixels = _net(small_net), _pixels(2)
    first = FeatureCache(tmp_path).activations(net, pixels)
    graphs = sorted((tmp_path / "graphs").glob("*.onnx"))
    assert len(exports) == 1 and len(graphs) == 1
    changed = pixels.copy()
    changed[0, 0, 0, 0] ^= 1
    again = FeatureCache(tmp_path)  # a later run, one new image: its graph is read, not exported
    assert torch.equal(again.activations(net, changed)[1], first[1]) and again.counts.computed == 1
    assert len(exports) == 1
    other = _net(small_net)
    with torch.no_grad():
        other.trunk.frozen[3].conv[0][0].weight.mul_(1.01)  # other frozen weights: another graph, another key
    FeatureCache(tmp_path).activations(other, pixels)
    assert len(exports) == 2 and len(list((tmp_path / "graphs").glob("*.onnx"))) == 2


def test_a_damaged_graph_file_is_exported_again(small_net, tmp_path):
    net, pixels = _net(small_net), _pixels(2)
    expected = FeatureCache(tmp_path).activations(net, pixels)
    (graph,) = (tmp_path / "graphs").glob("*.onnx")
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the weights
    graph.write_bytes(bytes(data))
    for image in tmp_path.glob("block*/*/*.npy"):
        image.unlink()  # so the activations are computed, by the graph
    cache = FeatureCache(tmp_path)
    assert torch.equal(cache.activations(net, pixels), expected)
    assert cache.counts.damaged == 1 and FeatureCache(tmp_path)._read_checked(graph) is not None  # rewritten whole


def test_without_a_folder_nothing_is_stored_and_the_values_are_the_cached_ones(small_net, tmp_path):
    net, pixels = _net(small_net, FINETUNE_BLOCK), _pixels(3)
    uncached = FeatureCache(None)
    assert torch.equal(uncached.activations(net, pixels), FeatureCache(tmp_path).activations(net, pixels))
    assert uncached.counts.computed == 3 and uncached.counts.hits == 0


@pytest.mark.parametrize("block", [FROZEN_ALL, FINETUNE_BLOCK])
def test_a_transfer_model_scored_through_the_graph_agrees_with_the_whole_network(small_net, tmp_path, block):
    net, pixels = _net(small_net, block), _pixels(4)
    model = TrainedFrameModel(net, FrameTrainConfig.transfer(block=block, image_size=SIZE), ("a", "b", "c"),
                              np.full(3, 0.5))
    genres, budget = predict_images(model, pixels, FeatureCache(tmp_path))
    whole_genres, whole_budget = predict_pixels(net, pixels)
    # the graph's activations are cached as float16: agreement to about 1e-3
    assert np.allclose(genres, whole_genres, atol=3e-3) and np.allclose(budget, whole_budget, atol=3e-3)
    assert np.allclose(budget.sum(1), 1, atol=1e-5)
