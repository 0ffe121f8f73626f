"""Distilling the teacher into the student: augmentation, the loss, the batches the fitting loop runs.

The teacher labels every augmented batch on the fly (its softened probabilities at temperature T; the
loss is KL * T^2 plus a hard-label cross-entropy), so augmentation never trains the student towards a
label the teacher would not give. AdamW with a one-cycle schedule, fixed seeds, early stopping on the
validation sources' top-1 agreement (:func:`cineseq_assets.fitting.fit_loop`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from cineseq_assets.fitting import ONE_CYCLE, FitSettings, fit_loop, seeded
from cineseq_assets.trailers.emotions import EmotionModel
from cineseq_assets.trailers.mini_xception import KerasGraphModel

from .data import CropDataset
from .evaluate import other_views
from .net import SPEED_FIRST, StudentConfig, build_student_net, student_model_config, teacher_keras, to_student_input

log = logging.getLogger(__name__)


@dataclass
class TrainedStudent:
    """A trained student (PyTorch, eval mode) and how its training went."""

    model: KerasGraphModel  # eval mode, outputs logits
    config: StudentConfig
    model_config: dict  # the Keras-style graph the model is built from (see student_model_config)
    labels: tuple[str, ...]
    epochs_run: int
    best_epoch: int
    best_val_agreement: float
    train_seconds: float
    train_crops: int
    history: list[dict] = field(default_factory=list)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every weight and BN statistic as a numpy array (no pickle; the caller stores it as Parquet)."""
        return {name: tensor.detach().cpu().numpy().copy() for name, tensor in self.model.state_dict().items()}

    def learning_curve(self) -> pd.DataFrame:
        """Per epoch: training loss, validation agreement, and whether it is the kept (best) epoch."""
        curve = pd.DataFrame(self.history, columns=["epoch", "train_loss", "val_agreement"])
        return curve.assign(best=curve["epoch"] == self.best_epoch)

    def config_dict(self) -> dict:
        """Everything needed to rebuild the net from :meth:`state_arrays` (JSON-ready)."""
        return {"student": asdict(self.config), "model_config": self.model_config, "labels": list(self.labels)}


def augment(crops: np.ndarray, config: StudentConfig, rng: np.random.Generator) -> np.ndarray:
    """Random flip, rotation, scale, shift, brightness and contrast of 64 px crops -> float32 0-255."""
    size = crops.shape[-1]
    out = np.empty(crops.shape, dtype=np.float32)
    for i, crop in enumerate(crops):
        angle = rng.uniform(-config.max_rotation_deg, config.max_rotation_deg)
        scale = 1 + rng.uniform(-config.max_scale_change, config.max_scale_change)
        matrix = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), angle, scale)
        matrix[:, 2] += rng.uniform(-config.max_shift_px, config.max_shift_px, 2)
        image = crop[:, ::-1] if rng.random() < 0.5 else crop
        out[i] = cv2.warpAffine(np.ascontiguousarray(image), matrix, (size, size),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    gain = 1 + rng.uniform(-config.contrast, config.contrast, (len(crops), 1, 1))
    offset = rng.uniform(-config.brightness, config.brightness, (len(crops), 1, 1))
    mean = out.mean(axis=(1, 2), keepdims=True)
    return np.clip((out - mean) * gain + mean + offset, 0, 255)


def _distillation_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor,
                       config: StudentConfig) -> torch.Tensor:
    """KL(teacher_T || student_T) * T^2 + w * CE(student, teacher top-1); T^2 keeps gradients comparable across T."""
    t = config.temperature
    teacher_soft = torch.softmax(torch.log(teacher_probs.clamp_min(1e-8)) / t, dim=1)  # softmax(logits / T)
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=1), teacher_soft, reduction="batchmean") * t * t
    hard = F.cross_entropy(student_logits, teacher_probs.argmax(dim=1))
    return soft + config.hard_label_weight * hard


def teacher_targets(teacher: EmotionModel, images: np.ndarray, average_views: bool) -> np.ndarray:
    """The teacher's probabilities for a batch; with `average_views`, averaged over the batch, its
    mirror image and its 2 px shift (the views of the evaluation's ceiling)."""
    views = [images, *other_views(images)] if average_views else [images]
    return np.mean([teacher.run(teacher.contract.normalize(view)) for view in views], axis=0).astype(np.float32)


def _agreement(model: nn.Module, gray: np.ndarray, teacher_top1: np.ndarray, size: int) -> float:
    """Share of crops where the student's top-1 label is the teacher's."""
    logits = torch.cat([model(torch.from_numpy(to_student_input(gray[i:i + 512], size)))
                        for i in range(0, len(gray), 512)])
    return float((logits.argmax(1).numpy() == teacher_top1).mean())


def _train_sample(train: CropDataset, config: StudentConfig, rng: np.random.Generator) -> np.ndarray:
    if config.max_train_crops is None or config.max_train_crops >= len(train):
        return train.crops
    return train.crops[np.sort(rng.choice(len(train), config.max_train_crops, replace=False))]


def train_student(dataset: CropDataset, teacher: EmotionModel,
                  config: StudentConfig = SPEED_FIRST) -> TrainedStudent:
    """Distil ``teacher`` into the student net on the dataset's train sources; early-stop on val sources.

    Threads are the caller's to set (``torch.set_num_threads``; the benchmarks use 2).
    """
    rng = seeded(config.seed)
    crops = _train_sample(dataset.subset("train"), config, rng)
    val = dataset.subset("val")
    val_top1 = teacher.predict_gray(val.crops).argmax(1) if len(val) else np.zeros(0, int)

    model_config = student_model_config(config, teacher_keras())
    model = build_student_net(model_config, teacher_keras() if config.init_from_teacher else None)
    # Contiguous (NCHW) tensors, not channels-last: channels-last trained the speed-first student
    # 19% faster, but the fidelity-first one (48 px, no stride) crashed in its first epoch's backward
    # pass with heap corruption ("free(): invalid next size", torch 2.13 on CPU), every time.
    steps_per_epoch = math.ceil(len(crops) / config.batch_size)

    def batch_losses():
        """Random batches of ``crops``; the teacher labels each augmented batch."""
        for batch in np.array_split(rng.permutation(len(crops)), steps_per_epoch):
            images = augment(crops[batch], config, rng)
            targets = torch.from_numpy(teacher_targets(teacher, images, config.average_teacher_views))
            inputs = torch.from_numpy(to_student_input(images, config.input_size))
            yield _distillation_loss(model(inputs), targets, config)

    def validation_agreement() -> float:
        return _agreement(model, val.crops, val_top1, config.input_size)

    settings = FitSettings(epochs=config.epochs, patience=config.patience, learning_rate=config.learning_rate,
                           weight_decay=config.weight_decay, max_seconds=config.time_budget_s, maximize=True,
                           schedule=ONE_CYCLE)
    fitted = fit_loop(model, batch_losses, validation_agreement if len(val) else None, settings, score="val_agreement",
                      steps_per_epoch=steps_per_epoch, log=log.info)
    return TrainedStudent(model, config, model_config, teacher.labels, fitted.epochs_run, fitted.best_epoch,
                          fitted.best_score, fitted.seconds, len(crops), fitted.history)
