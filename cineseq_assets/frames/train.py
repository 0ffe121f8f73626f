"""Training the dual-head frame classifier: losses, augmentation, early stopping on validation films.

Loss = genre binary cross-entropy (positives weighted by sqrt(negatives/positives), so rare genres
are not ignored, without the noise of full inverse weighting) + budget cross-entropy plus an ordinal
term, the expected number of classes between the prediction and the truth (a $25-50M film called
$50M+ is a smaller error than one called under $1M). Images whose film has no known budget
contribute to the genre loss only. Per-genre decision thresholds are chosen on validation films
after training (metrics.calibrate_thresholds).

The transfer model's frozen blocks run once per image (and once more on its mirror image, the
augmentation), in onnxruntime (frozen_graph.py), and epochs train on their activations; with a
``FeatureCache`` folder (feature_cache.py) those activations are kept on disk by image content, so a
retraining on the same images skips the backbone altogether.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..fitting import FitSettings, fit_loop, seeded
from .feature_cache import FeatureCache, trainable_rest
from .labels import BUDGET_CLASSES, UNKNOWN_BUDGET
from .metrics import calibrate_thresholds
from .nets import FROZEN_ALL, FrameNet, TransferTrunk, scratch_net, transfer_net

SCRATCH, TRANSFER = "scratch", "transfer"


@dataclass
class FrameTrainConfig:
    kind: str = SCRATCH  # "scratch" or "transfer"
    image_size: int = 96
    block: int = FROZEN_ALL  # transfer only: MobileNetV2 blocks from here on train (19: the head only)
    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 2e-3
    backbone_lr_scale: float = 0.1  # transfer: the pretrained blocks learn this much slower than the head
    weight_decay: float = 1e-4
    patience: int = 6  # epochs without a better validation loss before stopping
    budget_weight: float = 1.0
    ordinal_weight: float = 0.5
    seed: int = 0
    time_budget_s: float | None = None  # stop after the epoch that crosses it
    channels: tuple[int, ...] = (16, 32, 64, 128, 192)  # scratch trunk

    @classmethod
    def transfer(cls, block: int = FROZEN_ALL, **overrides) -> "FrameTrainConfig":
        return cls(**{"kind": TRANSFER, "image_size": 160, "block": block, "learning_rate": 1e-3, **overrides})


@dataclass
class SplitArrays:
    """One split: pixels (N, S, S, 3) RGB uint8, genre targets (N, k) 0/1, budget classes (N,) (-1 unknown),
    and each image's film where known."""

    pixels: np.ndarray
    genres: np.ndarray
    budget: np.ndarray
    films: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.genres)


@dataclass
class TrainedFrameModel:
    net: FrameNet
    config: FrameTrainConfig
    genres: tuple[str, ...]
    thresholds: np.ndarray
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    train_seconds: float = 0.0
    train_images: int = 0

    def config_dict(self) -> dict:
        return {"train": asdict(self.config), "genres": list(self.genres), "budget_classes": list(BUDGET_CLASSES),
                "thresholds": [float(t) for t in self.thresholds], "best_epoch": self.best_epoch,
                "train_seconds": round(self.train_seconds, 1), "train_images": self.train_images}


def build_net(config: FrameTrainConfig, n_genres: int) -> FrameNet:
    if config.kind == SCRATCH:
        return scratch_net(n_genres, len(BUDGET_CLASSES), tuple(config.channels))
    if config.kind == TRANSFER:
        return transfer_net(n_genres, len(BUDGET_CLASSES), config.block)
    raise ValueError(f"unknown frame model kind {config.kind!r}: use 'scratch' or 'transfer'")


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(N, S, S, 3) uint8 -> (N, 3, S, S) float on [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float().div_(255)


def dual_loss(genre_logits: torch.Tensor, budget_logits: torch.Tensor, genres: torch.Tensor, budget: torch.Tensor,
              pos_weight: torch.Tensor, config: FrameTrainConfig) -> torch.Tensor:
    loss = F.binary_cross_entropy_with_logits(genre_logits, genres, pos_weight=pos_weight)
    known = budget != UNKNOWN_BUDGET
    if known.any():
        logits, target = budget_logits[known], budget[known]
        distance = (torch.arange(logits.shape[1]) - target[:, None]).abs().float()
        ordinal = (logits.softmax(1) * distance).sum(1).mean()
        loss = loss + config.budget_weight * (F.cross_entropy(logits, target) + config.ordinal_weight * ordinal)
    return loss


def fit(train: SplitArrays, val: SplitArrays, genres: tuple[str, ...], config: FrameTrainConfig,
        log: Callable[[str], None] = print, start_from: TrainedFrameModel | None = None,
        checkpoint: Callable[[TrainedFrameModel], None] | None = None,
        feature_cache: FeatureCache | None = None) -> TrainedFrameModel:
    """Train with early stopping on the validation films' loss; returns the best epoch's network.

    ``checkpoint`` is called with the model after every epoch that improves the validation loss
    (classifier.save_model writes it as Parquet weights), so an interrupted run keeps its best epoch.

    ``start_from``: a trained model whose head starts this one (fine-tuning the last blocks of a
    transfer model after its head has been trained on the frozen backbone: a random head's large
    early gradients would otherwise wreck the pretrained blocks).

    ``feature_cache``: where a transfer model's frozen activations are read from and written to (on disk,
    by image content); without one they are computed for this training only.
    """
    start = time.perf_counter()  # training time includes caching the frozen blocks' output
    rng = seeded(config.seed)
    net = build_net(config, len(genres))
    if start_from is not None:
        net.head.load_state_dict(start_from.net.head.state_dict())
    inputs = _Inputs(net, train, val, log, feature_cache)
    pos_weight = _positive_weights(train.genres)
    train_y, train_b = torch.from_numpy(train.genres), torch.from_numpy(train.budget.astype(np.int64))

    def batch_losses():
        order = rng.permutation(len(train))
        for begin in range(0, len(order), config.batch_size):
            batch = order[begin:begin + config.batch_size]
            genre_logits, budget_logits = inputs.train_forward(batch, rng)
            yield dual_loss(genre_logits, budget_logits, train_y[batch], train_b[batch], pos_weight, config)

    def improved(history: list[dict]) -> None:
        checkpoint(TrainedFrameModel(net, config, genres, np.full(len(genres), 0.5), history, history[-1]["epoch"],
                                     time.perf_counter() - start, len(train)))

    settings = FitSettings(epochs=config.epochs, patience=config.patience, learning_rate=config.learning_rate,
                           weight_decay=config.weight_decay, max_seconds=config.time_budget_s, min_delta=1e-4,
                           plateau_factor=0.3)
    fitted = fit_loop(net, batch_losses, lambda: _validation_loss(inputs, val, pos_weight, config), settings,
                      score="val_loss", parameters=_parameter_groups(net, config), log=log, label=f"{config.kind} ",
                      on_improve=improved if checkpoint is not None else None, started=start)
    val_genre_scores = inputs.predict_val()[0]
    thresholds = calibrate_thresholds(val.genres, val_genre_scores)
    return TrainedFrameModel(net, config, genres, thresholds, fitted.history, fitted.best_epoch,
                             time.perf_counter() - start, len(train))


def _parameter_groups(net: FrameNet, config: FrameTrainConfig) -> list[dict]:
    if not isinstance(net.trunk, TransferTrunk):
        return [{"params": list(net.parameters())}]
    tail = [p for p in net.trunk.tail.parameters() if p.requires_grad]
    groups = [{"params": list(net.head.parameters())}]
    if tail:
        groups.append({"params": tail, "lr": config.learning_rate * config.backbone_lr_scale})
    return groups


def _positive_weights(genres: np.ndarray) -> torch.Tensor:
    positives = genres.sum(0).clip(min=1)
    return torch.from_numpy(np.sqrt((len(genres) - positives) / positives).astype(np.float32))


@torch.no_grad()
def _validation_loss(inputs: "_Inputs", val: SplitArrays, pos_weight: torch.Tensor, config: FrameTrainConfig) -> float:
    genre_logits, budget_logits = inputs.val_logits()
    return dual_loss(genre_logits, budget_logits, torch.from_numpy(val.genres),
                     torch.from_numpy(val.budget.astype(np.int64)), pos_weight, config).item()


class _Inputs:
    """What one training step feeds the network: augmented pixels for a scratch net; for a transfer
    net the cached output of its frozen blocks (an image or its mirror, at random)."""

    def __init__(self, net: FrameNet, train: SplitArrays, val: SplitArrays, log: Callable[[str], None],
                 cache: FeatureCache | None = None):
        self.net = net
        self.transfer = isinstance(net.trunk, TransferTrunk)
        if self.transfer:
            cache = cache if cache is not None else FeatureCache(None)  # one graph for the three passes
            stored = cache.folder is not None
            log(f"running the frozen MobileNetV2 blocks once on {len(train)} training images (and their mirrors) "
                f"and {len(val)} validation images{' (or reading them from the feature cache)' if stored else ''}")
            before = replace(cache.counts)
            self.train_cache = cache.activations(net, train.pixels)
            self.train_mirror = cache.activations(net, train.pixels[:, :, ::-1])
            self.val_cache = cache.activations(net, val.pixels)
            if stored:
                log(f"frozen activations: {cache.counts.since(before)}")
        else:
            self.train_pixels, self.val_pixels = train.pixels, val.pixels

    def train_forward(self, batch: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        if self.transfer:
            plain = self.train_cache[batch]
            mirror = torch.from_numpy(rng.random(len(batch)) < 0.5).view(-1, *[1] * (plain.dim() - 1))
            cached = torch.where(mirror, self.train_mirror[batch], plain)
            return self.net.head(trainable_rest(self.net, cached))
        return self.net(augment(to_tensor(self.train_pixels[batch]), rng))

    def val_logits(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.net.eval()
        if self.transfer:
            return _from_activations(self.net, self.val_cache)
        return _batched(self.net, self.val_pixels)

    @torch.no_grad()
    def predict_val(self) -> tuple[np.ndarray, np.ndarray]:
        return _probabilities(*self.val_logits())


def augment(pixels: torch.Tensor, rng: np.random.Generator, shift: int = 8) -> torch.Tensor:
    """Random mirror and a random shift of up to ``shift`` pixels (reflect-padded), per batch."""
    if rng.random() < 0.5:
        pixels = pixels.flip(3)
    size = pixels.shape[-1]
    padded = F.pad(pixels, (shift, shift, shift, shift), mode="reflect")
    top, left = rng.integers(0, 2 * shift + 1, size=2)
    return padded[:, :, top:top + size, left:left + size]


@torch.no_grad()
def frozen_features(net: FrameNet, pixels: np.ndarray, batch_size: int = 64,
                    cache: FeatureCache | None = None) -> torch.Tensor:
    """The frozen part's output for every image, as float16 (half the memory; ``trainable_rest`` casts
    back): the frozen blocks' maps, or the pooled embedding when nothing after them trains. With a
    ``cache``, read from it where the same image was seen by the same frozen blocks, else computed and stored."""
    return (cache if cache is not None else FeatureCache(None)).activations(net, pixels, batch_size)


def _from_activations(net: FrameNet, activations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(genre logits, budget logits) of a transfer net from its frozen part's activations."""
    return net.head(trainable_rest(net, activations))


def _probabilities(genre_logits: torch.Tensor, budget_logits: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    return genre_logits.sigmoid().numpy(), budget_logits.softmax(1).numpy()


@torch.no_grad()
def _batched(net: nn.Module, pixels: np.ndarray, batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    outputs = [net(to_tensor(pixels[i:i + batch_size])) for i in range(0, len(pixels), batch_size)]
    return torch.cat([g for g, _ in outputs]), torch.cat([b for _, b in outputs])


@torch.no_grad()
def predict_pixels(net: FrameNet, pixels: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(genre probabilities (N, k), budget probabilities (N, 5)) for RGB uint8 images."""
    net.eval()
    return _probabilities(*_batched(net, pixels, batch_size))


@torch.no_grad()
def predict_images(model: TrainedFrameModel, pixels: np.ndarray, cache: FeatureCache | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``predict_pixels``, with a transfer model's frozen part read from (or computed into) ``cache``:
    scoring both transfer models then runs the backbone once per image, in onnxruntime."""
    if model.config.kind != TRANSFER:
        return predict_pixels(model.net, pixels)
    model.net.eval()
    return _probabilities(*_from_activations(model.net, frozen_features(model.net, pixels, cache=cache)))
