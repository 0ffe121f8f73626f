"""The frame classifier's experiment: data, splits, three models, their scores next to the baselines.

Models: ``scratch`` (the small dual-head CNN), ``transfer`` (MobileNetV2 frozen, dual head trained)
and ``transfer_finetuned`` (the same, then its last blocks fine-tuned, starting from the trained
head). Every model is scored on the held-out poster films and on the trailer frames (a different
domain, never trained on); the baselines are scored on the same images. The model served to the
rest of the project is the one with the lowest validation loss: test films never choose.

The transfer models' frozen MobileNetV2 blocks run in onnxruntime (frozen_graph.py), and with a
feature cache folder their activations are kept on disk by image content (feature_cache.py): the
transfer model's pass over the images, test images included, also leaves what the fine-tuned one
reads, so the backbone runs once per image for training and scoring both, and a later run on the same
images reads them all. Each image file is decoded once for every size the models read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .classifier import save_model
from .dataset import LabelledImages, read_pixels_sizes, split_by_film
from .feature_cache import FeatureCache
from .labels import BUDGET_CLASSES, genre_matrix, top_genres
from .metrics import budget_baselines, budget_metrics, genre_baselines, genre_metrics
from .train import TRANSFER, FrameTrainConfig, SplitArrays, TrainedFrameModel, fit, predict_images, predict_pixels

# MobileNetV2's last inverted-residual block (160 -> 320 channels) and its 1x1 conv to 1280. Tried on
# the posters: from block 14 (lr 1e-3 and 3e-4) and from 17 (1e-4), fine-tuning overfits from its
# first epoch (validation loss 2.64-2.69 against 2.62 for the frozen backbone): 3,000 posters are
# too few to move ImageNet features. Kept as the smallest, cheapest variant to try on more data.
FINETUNE_BLOCK = 17
# The scratch CNN at 64 px, at most 8 epochs, patience 4. At 96 px and up to 40 epochs with patience
# 6 its cost depended on chance: after the first few epochs its validation loss creeps down by
# 1e-4..1e-3 now and then, each creep restarting the patience, so one run stopped after 8 epochs on
# two threads and ran all 40 on one (about 1 minute against over 5). Chosen on the validation films:
# at 64 px an epoch costs 0.4 of one at 96 px (18 M multiply-adds an image against 41 M), and the
# best validation loss was no worse (seeds 0-2 on one thread, patience 4, up to 40 epochs: 2.696-2.708
# at 64 px, 2.700-2.709 at 80, 2.688-2.715 at 96). Over seeds 0-4 at 64 px, capping at 8 epochs gave a
# mean best validation loss of 2.7057, against 2.7044 uncapped (10.4 epochs) and 2.7077 capped at 6.
SCRATCH_SIZE, SCRATCH_EPOCHS, SCRATCH_PATIENCE = 64, 8, 4
# The fine-tuned model starts from the trained head at a low learning rate, and its validation loss
# moves smoothly: best at epoch 1 for seeds 0, 2 and 3, rising after it; for seed 1 falling to
# epoch 3, then rising. Stopping at the first epoch that does not improve keeps the same weights on
# all four, where the default patience 6 ran 5-6 epochs more of several seconds each.
FINETUNE_PATIENCE = 1
TEST_SETS = ("test_posters", "trailer_frames", "trailer_films")
SPEED_IMAGES = 64  # test images each model's inference speed is measured on


@dataclass
class ExperimentConfig:
    scratch: FrameTrainConfig = field(default_factory=lambda: FrameTrainConfig(
        image_size=SCRATCH_SIZE, epochs=SCRATCH_EPOCHS, patience=SCRATCH_PATIENCE))
    transfer: FrameTrainConfig = field(default_factory=FrameTrainConfig.transfer)
    finetune: FrameTrainConfig | None = field(default_factory=lambda: FrameTrainConfig.transfer(
        block=FINETUNE_BLOCK, learning_rate=1e-4, patience=FINETUNE_PATIENCE))
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    split_seed: int = 0
    # A quick run (tests, smoke checks): at most this many films per split, stratified by decade,
    # and this many frames per trailer film.
    max_films: int | None = None
    max_frames_per_trailer_film: int | None = None


@dataclass
class ExperimentResult:
    models: dict[str, TrainedFrameModel]
    evaluation: pd.DataFrame  # model, test_set, task, metric, value
    per_genre: pd.DataFrame  # model, test_set, genre, positives, threshold, f1, auc, average_precision
    confusion: dict[str, np.ndarray]  # "<model>/<test_set>" -> 5x5 (rows: true class)
    splits: pd.DataFrame  # film, source, decade, split
    genres: tuple[str, ...]
    budget_report: dict
    serving: str
    inference_images_per_s: dict[str, float]
    feature_cache: str = ""  # what the feature cache did (images read, computed), when there was one


def run_experiment(data: LabelledImages, config: ExperimentConfig | None = None, log: Callable[[str], None] = print,
                   checkpoint_dir: Path | None = None, feature_cache_dir: Path | None = None) -> ExperimentResult:
    """Train and score every model on ``data`` (dataset.load_labelled_images or load_label_folder).

    ``checkpoint_dir``: each model's best epoch so far is written there as ``<model>.parquet``
    while it trains (thresholds not yet calibrated: for resuming or inspection, not for serving).
    ``feature_cache_dir``: where the transfer models' frozen activations are cached (FeatureCache).
    """
    config = config or ExperimentConfig()
    posters = _with_splits(data, config)
    frames = data.trailer_frames
    if config.max_frames_per_trailer_film is not None:
        frames = frames.groupby("film", group_keys=False).head(config.max_frames_per_trailer_film)
    genres = data.label_set or top_genres(posters.loc[posters["split"] == "train", "genres"])
    log(f"{len(posters)} posters ({(posters['split'] == 'train').sum()} train, {(posters['split'] == 'val').sum()} val, "
        f"{(posters['split'] == 'test').sum()} test films), {len(frames)} trailer frames; genres {', '.join(genres)}")
    models: dict[str, TrainedFrameModel] = {}
    plans = [("scratch", config.scratch, None), ("transfer", config.transfer, None)]
    if config.finetune is not None:
        plans.append(("transfer_finetuned", config.finetune, "transfer"))
    # Every split point of the run is kept on the way through the backbone. Without a folder nothing is
    # stored, but the models still share one onnxruntime graph per split.
    cache = FeatureCache(feature_cache_dir, {plan.block for _, plan, _ in plans if plan.kind == TRANSFER})
    # Each image file is decoded once, for every size the models read.
    arrays_by_size = _arrays(posters, frames, genres, sorted({plan.image_size for _, plan, _ in plans}))
    for name, train_config, start in plans:
        sets = arrays_by_size[train_config.image_size]
        log(f"training {name} on {len(sets['train'])} posters at {train_config.image_size} px")
        models[name] = fit(sets["train"], sets["val"], genres, train_config, log, start_from=models.get(start),
                           checkpoint=_checkpointer(checkpoint_dir, name), feature_cache=cache)
    evaluation, per_genre, confusion, speed = _evaluate(models, arrays_by_size, genres, cache)
    serving = min(models, key=lambda n: min(h["val_loss"] for h in models[n].history))
    splits = pd.concat([posters[["film", "source", "decade", "split"]].drop_duplicates("film"),
                        frames[["film", "source", "decade"]].drop_duplicates("film").assign(split="trailer_test")])
    return ExperimentResult(models, evaluation, per_genre, confusion, splits.reset_index(drop=True), genres,
                            data.budget_report, serving, speed, str(cache.counts) if feature_cache_dir is not None else "")


def _checkpointer(folder: Path | None, name: str):
    if folder is None:
        return None
    return lambda model: save_model(model, Path(folder) / f"{name}.parquet", {"checkpoint_epoch": model.best_epoch})


def _with_splits(data: LabelledImages, config: ExperimentConfig) -> pd.DataFrame:
    posters = data.posters.assign(split=split_by_film(data.posters, config.val_fraction, config.test_fraction,
                                                      config.split_seed))
    overlap = set(posters["film"]) & set(data.trailer_frames["film"])
    posters = posters[~posters["film"].isin(overlap)]  # a trailer-test film never trains, even as a poster
    if config.max_films is not None:
        posters = pd.concat([_stratified_head(posters[posters["split"] == split], config.max_films)
                             for split in ("train", "val", "test")])
    return posters.reset_index(drop=True)


def _stratified_head(films: pd.DataFrame, n: int) -> pd.DataFrame:
    """At most n rows, each decade keeping its share (at least one film)."""
    if len(films) <= n:
        return films
    quota = (films["decade"].map(films["decade"].value_counts()) * n / len(films)).round().clip(lower=1)
    return films[films.groupby("decade").cumcount() < quota]


def _arrays(posters: pd.DataFrame, frames: pd.DataFrame, genres: tuple[str, ...],
            sizes: list[int]) -> dict[int, dict[str, SplitArrays]]:
    """size -> split -> SplitArrays (train, val, test, test_posters: test again, trailer_frames)."""
    tables = {split: posters[posters["split"] == split] for split in ("train", "val", "test")} | {"trailer_frames": frames}
    pixels = {name: read_pixels_sizes(table["path"].tolist(), sizes) for name, table in tables.items()}
    out = {}
    for size in sizes:
        sets = {name: SplitArrays(pixels[name][size], genre_matrix(table["genres"], genres),
                                  table["budget_class"].to_numpy(dtype=np.int64), table["film"].to_numpy())
                for name, table in tables.items()}
        out[size] = sets | {"test_posters": sets["test"]}
    return out


def _evaluate(models: dict[str, TrainedFrameModel], arrays_by_size: dict[int, dict[str, SplitArrays]],
              genres: tuple[str, ...], cache: FeatureCache) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict]:
    """Scores of every model and baseline on the poster test films and the trailer frames, and on the
    trailer films (frame probabilities averaged per film, as frame_predictions does). The transfer
    models' frozen part runs once per image (``cache``); each model's inference speed is measured
    apart, on the whole network (``_images_per_second``)."""
    any_sets = next(iter(arrays_by_size.values()))
    scores = _Scores(genres)
    for test_set in ("test_posters", "trailer_frames"):
        target = any_sets[test_set]
        if len(target) == 0:  # a label folder has no trailer-frame test set
            continue
        scored: dict[str, tuple] = {}
        for name, model in models.items():
            genre_probs, budget_probs = predict_images(model, arrays_by_size[model.config.image_size][test_set].pixels, cache)
            scored[name] = (genre_probs, model.thresholds, budget_probs)
        scored |= _baselines(any_sets["train"], any_sets["val"], len(target))
        scores.add(test_set, target, scored)
        if test_set == "trailer_frames":
            films = target.films
            per_film = SplitArrays(target.pixels[:0], _film_means(target.genres, films), _film_means(target.budget, films))
            averaged = {name: (_film_means(g, films), t, _film_means(b, films)) for name, (g, t, b) in scored.items()
                        if name in models}
            # Baselines are rebuilt per film, not averaged: a mean of equal floats can differ in its
            # last bit between films, and AUC would rank that noise.
            scores.add("trailer_films", per_film, averaged | _baselines(any_sets["train"], any_sets["val"], len(per_film)))
    speed = {name: _images_per_second(model, arrays_by_size[model.config.image_size]["test_posters"].pixels)
             for name, model in models.items()}
    return scores.table(), pd.DataFrame(scores.per_genre), scores.confusion, speed


def _images_per_second(model: TrainedFrameModel, pixels: np.ndarray) -> float:
    """What serving reads: images per second of the whole network (PyTorch, one batch of 64) on the
    first test images, after a warm-up batch. A sample: scoring every test image that way would run
    the backbone again (benchmarks/frames.py measures it at length)."""
    sample = pixels[:SPEED_IMAGES]
    if len(sample) == 0:
        return float("nan")
    predict_pixels(model.net, sample[:4])  # the first forward also sets up the kernels
    start = time.perf_counter()
    predict_pixels(model.net, sample)
    return len(sample) / (time.perf_counter() - start)


def _baselines(train: SplitArrays, val: SplitArrays, n: int) -> dict[str, tuple]:
    scored = {f"baseline_{name}": (scores, thresholds, None)
              for name, (scores, thresholds) in genre_baselines(train.genres, val.genres, n).items()}
    return scored | {f"baseline_{name}": (None, None, probs)
                     for name, probs in budget_baselines(train.budget[train.budget >= 0], n).items()}


def _film_means(values: np.ndarray, films: np.ndarray) -> np.ndarray:
    """Mean over each film's rows, films in sorted order (labels are per film, so their mean is exact)."""
    order = np.unique(films)
    return np.stack([values[films == film].mean(0) for film in order]).astype(values.dtype)


class _Scores:
    """Accumulates the long evaluation table, the per-genre rows and the confusion matrices."""

    def __init__(self, genres: tuple[str, ...]):
        self.genres, self.rows, self.per_genre, self.confusion = genres, [], [], {}

    def add(self, test_set: str, target: SplitArrays, scored: dict[str, tuple]) -> None:
        known = target.budget >= 0
        for name, (genre_probs, thresholds, budget_probs) in scored.items():
            if genre_probs is not None:
                summary, per_genre = genre_metrics(target.genres, genre_probs, thresholds, self.genres)
                self.rows += [(name, test_set, "genre", metric, value) for metric, value in summary.items()]
                self.per_genre += [{"model": name, "test_set": test_set, **row} for row in per_genre]
            if budget_probs is not None and known.any():
                summary, matrix = budget_metrics(target.budget[known], budget_probs[known])
                self.rows += [(name, test_set, "budget", metric, value) for metric, value in summary.items()]
                self.confusion[f"{name}/{test_set}"] = matrix
        self.rows += [("(images)", test_set, "genre", "images", float(len(target.genres))),
                      ("(images)", test_set, "budget", "images_with_budget", float(known.sum()))]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["model", "test_set", "task", "metric", "value"])


def evaluation_table(evaluation: pd.DataFrame, test_set: str) -> pd.DataFrame:
    """One row per model, one column per task/metric, for one test set (the closing-note view)."""
    part = evaluation[(evaluation["test_set"] == test_set) & (evaluation["model"] != "(images)")]
    wide = part.pivot_table(index="model", columns=["task", "metric"], values="value", sort=False)
    wide.columns = [f"{task}_{metric}" for task, metric in wide.columns]
    return wide.reset_index()


def confusion_frame(matrix: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(matrix, index=[f"true_{c}" for c in BUDGET_CLASSES], columns=[f"pred_{c}" for c in BUDGET_CLASSES])


def quick_config(max_films: int = 60, epochs: int = 2, finetune: bool = False) -> ExperimentConfig:
    """A short run (tests, smoke checks): few films per split, 5 frames per trailer film, few epochs."""
    base = ExperimentConfig()
    return replace(base, scratch=replace(base.scratch, epochs=epochs), transfer=replace(base.transfer, epochs=epochs),
                   finetune=replace(base.finetune, epochs=epochs) if finetune else None,
                   max_films=max_films, max_frames_per_trailer_film=5)
