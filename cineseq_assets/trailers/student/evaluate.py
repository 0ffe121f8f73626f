"""The exported student against the teacher on the held-out test sources: agreement, affect error, speed.

The ceiling: a student cannot agree with the teacher more than the teacher agrees with itself. On
each crop the teacher is asked again on the mirrored crop and on the crop shifted 2 px to the
right (edge pixels repeated); a face is *stable* when its top-1 label survives both. The gate
(:meth:`StudentReport.gate`) asks for agreement on the stable faces, overall agreement near the
teacher's self-agreement (the mean of its flip and shift agreements), the affect error, and speed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
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
    teacher_shift_agreement: float = float("nan")  # the teacher's top-1 on the crop shifted 2 px vs on the crop
    stable_share: float = float("nan")  # crops whose teacher top-1 survives the flip and the shift
    agreement_stable: float = float("nan")  # the student's agreement on those
    ceiling_by_kind: dict[str, dict[str, float]] = field(default_factory=dict)  # kind -> flip, shift, stable, student
    agreement_by_class: dict[str, float] = field(default_factory=dict)  # teacher's top-1 label -> agreement
    confusion: list[list[int]] = field(default_factory=list)  # [teacher top-1][student top-1] counts
    labels: tuple[str, ...] = ()

    def speedup(self, batch_size: int) -> float:
        return self.student_faces_per_s[batch_size] / self.teacher_faces_per_s[batch_size]

    @property
    def teacher_self_agreement(self) -> float:
        """The ceiling the gate compares with: the mean of the teacher's flip and shift agreements."""
        return (self.teacher_flip_agreement + self.teacher_shift_agreement) / 2

    def gate(self) -> dict[str, tuple[float, str, float, bool]]:
        """Each condition of the deploy gate: (measured, "<=" or ">=", threshold, passed)."""
        conditions = [
            ("top-1 agreement on the teacher's stable faces", self.agreement_stable, ">=", GATE_STABLE_AGREEMENT),
            ("top-1 agreement overall", self.agreement, ">=", self.teacher_self_agreement - GATE_SELF_AGREEMENT_MARGIN),
            ("valence mean absolute difference", self.valence_mad, "<=", GATE_AFFECT_MAD),
            ("arousal mean absolute difference", self.arousal_mad, "<=", GATE_AFFECT_MAD),
            *((f"faces per second vs the teacher, batch {b}", self.speedup(b), ">=", GATE_SPEEDUP)
              for b in sorted(self.teacher_faces_per_s)),
        ]
        return {name: (value, op, threshold, bool(value >= threshold if op == ">=" else value <= threshold))
                for name, value, op, threshold in conditions}

    def passes_gate(self) -> bool:
        return all(passed for *_, passed in self.gate().values())


GATE_STABLE_AGREEMENT = 0.85
GATE_SELF_AGREEMENT_MARGIN = 0.05
GATE_AFFECT_MAD = 0.10
GATE_SPEEDUP = 3.0
SHIFT_PX = 2
TIMING_SECONDS = 0.5  # per model and batch size: evaluate times 4 of them
MIN_TIMED_RUNS = 10


def shifted(gray: np.ndarray, dx: int = SHIFT_PX, dy: int = 0) -> np.ndarray:
    """Square crops [N, S, S] moved by (dx, dy) pixels, the uncovered edge filled by repeating it."""
    size = gray.shape[-1]
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return np.stack([cv2.warpAffine(np.ascontiguousarray(crop), matrix, (size, size), flags=cv2.INTER_NEAREST,
                                    borderMode=cv2.BORDER_REPLICATE) for crop in gray])


def other_views(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The views of square crops the teacher is asked about again: the mirror image, the 2 px shift."""
    return np.ascontiguousarray(gray[:, :, ::-1]), shifted(gray)


def teacher_stability(teacher: EmotionModel, gray: np.ndarray, top1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per crop: does the teacher's top-1 survive the mirror image, and a 2 px shift?"""
    mirrored, moved = (teacher.predict_gray(view).argmax(1) for view in other_views(gray))
    return mirrored == top1, moved == top1


def faces_per_second(model: EmotionModel, batch_size: int, seconds: float = TIMING_SECONDS) -> float:
    """Network throughput: ``batch_size`` over the median time of repeated ``session.run`` on one
    normalized batch, after a warm-up; runs for ``seconds`` and at least ``MIN_TIMED_RUNS`` times.

    The median of single runs rather than their mean: a run slowed by another process on a busy
    machine does not move it, so half a second gives the speedups that longer measurements gave.
    """
    size = model.contract.size
    batch = model.contract.normalize(np.random.default_rng(0).integers(0, 256, (batch_size, size, size)))
    for _ in range(10):
        model.run(batch)
    durations: list[float] = []
    started = time.perf_counter()
    while len(durations) < MIN_TIMED_RUNS or time.perf_counter() - started < seconds:
        run_started = time.perf_counter()
        model.run(batch)
        durations.append(time.perf_counter() - run_started)
    return batch_size / float(np.median(durations))


def evaluate(student_onnx_path: str | Path, teacher: EmotionModel, dataset: CropDataset, *,
             batch_sizes: Sequence[int] = (1, 32), threads: int | None = None,
             timing_seconds: float = TIMING_SECONDS) -> StudentReport:
    """Agreement, valence/arousal error and speed of the exported student against ``teacher`` on test sources.

    Both are timed with ``threads`` onnxruntime threads; by default the threads the trailer pipeline
    gives its emotion model on this machine (one per frame worker), since that is where the speed counts.
    """
    if threads is None:
        from cineseq_assets.trailers.pipeline import TrailerConfig, worker_threads

        threads = worker_threads(TrailerConfig())[1]
    test = dataset.subset("test")
    if not len(test):
        raise ValueError("the dataset has no test crops; build it with test_fraction > 0 and more sources")
    student = EmotionModel(student_onnx_path, read_contract(student_onnx_path), "student", threads=threads)
    teacher_timed = EmotionModel(teacher.path, teacher.contract, teacher.name, threads=threads)
    teacher_probs, student_probs = teacher.predict_gray(test.crops), student.predict_gray(test.crops)
    teacher_top1, student_top1 = teacher_probs.argmax(1), student_probs.argmax(1)
    flip_same, shift_same = teacher_stability(teacher, test.crops, teacher_top1)
    stable = flip_same & shift_same
    same = teacher_top1 == student_top1
    confident = teacher_probs.max(1) >= 0.5
    (tv, ta), (sv, sa) = affect(teacher_probs, teacher.labels), affect(student_probs, student.labels)
    kinds = sorted(set(test.kinds))
    labels = tuple(teacher.labels)
    confusion = np.zeros((len(labels), len(labels)), dtype=int)
    np.add.at(confusion, (teacher_top1, student_top1), 1)
    return StudentReport(
        test_crops=len(test), test_sources=len(test.sources()), agreement=float(same.mean()),
        agreement_by_kind={str(kind): float(same[test.kinds == kind].mean()) for kind in kinds},
        agreement_confident=_share(same, confident), confident_share=float(confident.mean()),
        teacher_flip_agreement=float(flip_same.mean()), teacher_shift_agreement=float(shift_same.mean()),
        stable_share=float(stable.mean()), agreement_stable=_share(same, stable),
        ceiling_by_kind={str(kind): {"crops": int((test.kinds == kind).sum()),
                                     "teacher_flip": _share(flip_same, test.kinds == kind),
                                     "teacher_shift": _share(shift_same, test.kinds == kind),
                                     "stable": _share(stable, test.kinds == kind),
                                     "student": _share(same, test.kinds == kind),
                                     "student_on_stable": _share(same, stable & (test.kinds == kind))}
                         for kind in kinds},
        agreement_by_class={label: _share(same, teacher_top1 == k) for k, label in enumerate(labels)},
        confusion=confusion.tolist(), labels=labels,
        valence_mad=float(np.abs(sv - tv).mean()), arousal_mad=float(np.abs(sa - ta).mean()),
        teacher_faces_per_s={b: faces_per_second(teacher_timed, b, timing_seconds) for b in batch_sizes},
        student_faces_per_s={b: faces_per_second(student, b, timing_seconds) for b in batch_sizes},
        threads=threads)


def _share(values: np.ndarray, where: np.ndarray) -> float:
    """Mean of a boolean array where the mask holds; NaN where it never does."""
    return float(values[where].mean()) if where.any() else float("nan")


def confusion_markdown(report: StudentReport) -> str:
    """The confusion matrix as a Markdown table: rows the teacher's top-1, columns the student's."""
    header = "| teacher \\ student | " + " | ".join(report.labels) + " | agreement |"
    lines = [header, "|---|" + "---|" * (len(report.labels) + 1)]
    for label, row in zip(report.labels, report.confusion):
        share = report.agreement_by_class.get(label, float("nan"))
        shown = "-" if np.isnan(share) else f"{share:.0%}"  # a class the teacher never chose on these crops
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + f" | {shown} |")
    return "\n".join(lines)


def gate_markdown(report: StudentReport) -> str:
    """The gate as a Markdown table: condition, measured, required, passed."""
    lines = ["| condition | measured | required | passed |", "|---|---|---|---|"]
    for name, (value, op, threshold, passed) in report.gate().items():
        lines.append(f"| {name} | {value:.3f} | {op} {threshold:.3f} | {'yes' if passed else 'no'} |")
    return "\n".join(lines)
