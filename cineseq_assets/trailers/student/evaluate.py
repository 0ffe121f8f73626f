"""The exported student against the teacher on the held-out test sources: agreement, affect error, speed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from cineseq_assets.trailers.emotions import EmotionModel, affect, read_contract

from .data import CropDataset


@dataclass
class StudentReport:
    """Student vs teacher on the held-out test sources; speeds are onnxruntime, network only."""

    test_crops: int
    test_sources: int
    agreement: float  # share of crops where the student's top-1 label is the teacher's
    agreement_by_kind: dict[str, float]
    agreement_confident: float  # agreement where the teacher's top-1 probability is >= 0.5
    confident_share: float  # share of test crops where it is
    teacher_flip_agreement: float  # the teacher's top-1 on the mirrored crop vs on the crop: its own stability
    valence_mad: float  # mean |valence_student - valence_teacher| through the circumplex
    arousal_mad: float
    teacher_faces_per_s: dict[int, float]  # batch size -> faces per second
    student_faces_per_s: dict[int, float]
    threads: int

    def speedup(self, batch_size: int) -> float:
        return self.student_faces_per_s[batch_size] / self.teacher_faces_per_s[batch_size]


def faces_per_second(model: EmotionModel, batch_size: int, seconds: float = 2.0) -> float:
    """Network throughput: repeated ``session.run`` on one normalized batch, after a warm-up."""
    size = model.contract.size
    batch = model.contract.normalize(np.random.default_rng(0).integers(0, 256, (batch_size, size, size)))
    for _ in range(10):
        model.run(batch)
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        model.run(batch)
        runs += 1
    return runs * batch_size / (time.perf_counter() - started)


def evaluate(student_onnx_path: str | Path, teacher: EmotionModel, dataset: CropDataset, *,
             batch_sizes: Sequence[int] = (1, 32), threads: int = 2, timing_seconds: float = 2.0) -> StudentReport:
    """Agreement, valence/arousal error and speed of the exported student against ``teacher`` on test sources."""
    test = dataset.subset("test")
    if not len(test):
        raise ValueError("the dataset has no test crops; build it with test_fraction > 0 and more sources")
    student = EmotionModel(student_onnx_path, read_contract(student_onnx_path), "student", threads=threads)
    teacher_timed = EmotionModel(teacher.path, teacher.contract, teacher.name, threads=threads)
    teacher_probs, student_probs = teacher.predict_gray(test.crops), student.predict_gray(test.crops)
    mirrored_top1 = teacher.predict_gray(test.crops[:, :, ::-1].copy()).argmax(1)
    same = teacher_probs.argmax(1) == student_probs.argmax(1)
    confident = teacher_probs.max(1) >= 0.5
    (tv, ta), (sv, sa) = affect(teacher_probs, teacher.labels), affect(student_probs, student.labels)
    return StudentReport(
        test_crops=len(test), test_sources=len(test.sources()), agreement=float(same.mean()),
        agreement_by_kind={str(kind): float(same[test.kinds == kind].mean()) for kind in sorted(set(test.kinds))},
        agreement_confident=float(same[confident].mean()) if confident.any() else float("nan"),
        confident_share=float(confident.mean()),
        teacher_flip_agreement=float((mirrored_top1 == teacher_probs.argmax(1)).mean()),
        valence_mad=float(np.abs(sv - tv).mean()), arousal_mad=float(np.abs(sa - ta).mean()),
        teacher_faces_per_s={b: faces_per_second(teacher_timed, b, timing_seconds) for b in batch_sizes},
        student_faces_per_s={b: faces_per_second(student, b, timing_seconds) for b in batch_sizes},
        threads=threads)
