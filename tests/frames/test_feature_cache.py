"""The frozen MobileNetV2 activations cached on disk by image content: a hit reads exactly what was
computed, a changed image or other frozen weights is computed anew, a damaged file is recomputed,
and training on cached activations learns exactly what training on computed ones learns."""

from dataclasses import replace

import numpy as np
import torch

from cineseq_assets.frames.feature_cache import FeatureCache, trainable_rest
from cineseq_assets.frames.train import FrameTrainConfig, SplitArrays, fit, frozen_features, to_tensor

SIZE = 32  # MobileNetV2's smallest sensible input: 1x1 maps after the last block, fast on 2 cores
FINETUNE_BLOCK = 17


def _pixels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to float16 rounding (a convolution's sums depend a little on the batch it runs in)."""
    return torch.allclose(a.float(), b.float(), atol=2e-3, rtol=2e-3)


def _files(folder) -> list:
    return sorted(path for path in folder.rglob("*.npy"))


def test_a_second_pass_reads_every_image_from_disk_and_gets_the_same_activations(small_net, tmp_path):
    net, pixels = small_net(), _pixels(6)
    computed = FeatureCache(tmp_path).activations(net, pixels)
    assert computed.dtype == torch.float16 and computed.shape == (6, 1280)  # pooled: nothing after the split trains
    assert torch.equal(computed, frozen_features(net, pixels))  # what training holds without a cache
    cache = FeatureCache(tmp_path)
    read = cache.activations(net, pixels)
    assert (cache.counts.hits, cache.counts.computed, cache.counts.damaged) == (6, 0, 0)
    assert torch.equal(read, computed)
    with torch.no_grad():  # the head reads the cached embedding as it reads the network's own
        expected = net.trunk(net.normalize(to_tensor(pixels)))
        assert torch.allclose(trainable_rest(net, read), expected, atol=2e-2, rtol=1e-2)


def test_a_changed_image_is_computed_again_and_the_others_are_read(small_net, tmp_path):
    net, pixels = small_net(), _pixels(4)
    first = FeatureCache(tmp_path).activations(net, pixels)
    changed = pixels.copy()
    changed[2, 0, 0, 0] ^= 1  # one bit of one pixel
    cache = FeatureCache(tmp_path)
    result = cache.activations(net, changed)
    assert (cache.counts.hits, cache.counts.computed) == (3, 1)
    assert torch.equal(result[[0, 1, 3]], first[[0, 1, 3]])
    # computed alone rather than in a batch of 4: equal up to float16 rounding
    assert _close(result[2], frozen_features(net, changed)[2]) and not torch.equal(result[2], first[2])
    mirrored = FeatureCache(tmp_path)
    mirrored.activations(net, pixels[:, :, ::-1])  # a mirror image is another image
    assert mirrored.counts.computed == 4


def test_other_frozen_weights_a_split_or_a_size_never_read_the_same_files(small_net, tmp_path):
    net, pixels = small_net(), _pixels(3)
    FeatureCache(tmp_path).activations(net, pixels)
    other = small_net()
    with torch.no_grad():
        other.trunk.frozen[0][1].running_mean.add_(0.01)  # a BatchNorm statistic of the first block
    cache = FeatureCache(tmp_path)
    assert _close(cache.activations(other, pixels), frozen_features(other, pixels))
    assert (cache.counts.hits, cache.counts.computed) == (0, 3)
    split = FeatureCache(tmp_path)
    assert split.activations(small_net(FINETUNE_BLOCK), pixels).shape == (3, 160, 1, 1)  # maps: block 17 trains
    assert split.counts.computed == 3


def test_a_damaged_file_is_computed_again_and_rewritten(small_net, tmp_path):
    net, pixels = small_net(), _pixels(3)
    expected = FeatureCache(tmp_path).activations(net, pixels)
    files = _files(tmp_path)
    assert len(files) == 3
    files[0].write_bytes(files[0].read_bytes()[:-7])  # truncated
    data = bytearray(files[1].read_bytes())
    data[-1] ^= 0xFF  # one byte of the values flipped: still a well-formed .npy
    files[1].write_bytes(bytes(data))
    cache = FeatureCache(tmp_path)
    assert torch.equal(cache.activations(net, pixels), expected)
    assert (cache.counts.hits, cache.counts.computed, cache.counts.damaged) == (1, 2, 2)
    assert "2 damaged file(s) recomputed" in str(cache.counts)
    again = FeatureCache(tmp_path)
    again.activations(net, pixels)
    assert (again.counts.hits, again.counts.damaged) == (3, 0)  # rewritten whole


def test_the_transfer_pass_leaves_what_the_fine_tuned_model_reads(small_net, tmp_path):
    pixels = _pixels(4)
    FeatureCache(tmp_path, shared_blocks=(FINETUNE_BLOCK,)).activations(small_net(), pixels)
    finetune = small_net(FINETUNE_BLOCK)
    cache = FeatureCache(tmp_path, shared_blocks=(FINETUNE_BLOCK,))
    read = cache.activations(finetune, pixels)
    assert (cache.counts.hits, cache.counts.computed) == (4, 0)
    assert _close(read, frozen_features(finetune, pixels))


def test_retraining_on_cached_activations_learns_what_training_on_computed_ones_learns(small_net, tmp_path):
    genres = ("a", "b", "c")
    rng = np.random.default_rng(1)

    def split(n: int, seed: int) -> SplitArrays:
        return SplitArrays(_pixels(n, seed), rng.integers(0, 2, (n, 3)).astype(np.float32), rng.integers(-1, 5, n))

    train, val = split(12, 1), split(6, 2)
    config = replace(FrameTrainConfig.transfer(), image_size=SIZE, epochs=2, batch_size=4)
    quiet = lambda message: None  # noqa: E731
    uncached = fit(train, val, genres, config, quiet)
    cold_cache = FeatureCache(tmp_path)
    cold = fit(train, val, genres, config, quiet, feature_cache=cold_cache)
    warm_cache = FeatureCache(tmp_path)
    warm = fit(train, val, genres, config, quiet, feature_cache=warm_cache)
    assert cold_cache.counts.computed == 12 + 12 + 6  # images, their mirrors, validation images
    assert (warm_cache.counts.computed, warm_cache.counts.hits) == (0, 30)
    for model in (cold, warm):
        for name, tensor in uncached.net.head.state_dict().items():
            assert torch.equal(model.net.head.state_dict()[name], tensor), name
        assert np.array_equal(model.thresholds, uncached.thresholds)


def test_a_second_experiment_on_the_same_images_runs_no_backbone_and_scores_the_same(labelled, tmp_path):
    from cineseq_assets.frames.experiment import quick_config, run_experiment

    config = quick_config(max_films=8, epochs=1, finetune=True)
    quiet = lambda message: None  # noqa: E731
    cold = run_experiment(labelled, config, log=quiet, feature_cache_dir=tmp_path)
    warm = run_experiment(labelled, config, log=quiet, feature_cache_dir=tmp_path)
    # the transfer model's pass left what the fine-tuned model reads: its images are read, not computed
    computed = int(cold.feature_cache.split(", ")[1].split()[0])
    assert cold.feature_cache.split()[0] == str(computed) and computed > 0, cold.feature_cache
    assert warm.feature_cache == f"{2 * computed} images read from the feature cache, 0 computed", warm.feature_cache
    assert cold.evaluation.equals(warm.evaluation)
