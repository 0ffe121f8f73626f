"""Distil the FER mini-Xception teacher into the fast student on every shared face, and report.

    python benchmarks/student.py [--detector yunet|scrfd] [--presets speed,fidelity] [--cache DIR] [--out FILE]

Builds (or reuses) the crop dataset from every video and image in shared/media and the poster and
trailer-frame collections in shared/data/images, trains the speed-first student (and, for comparison,
the fidelity-first one) on 2 threads, exports the speed-first one to ONNX as student_candidate.onnx
beside the deployed student (the trailer_emotion_student asset decides deployment; --out moves it)
and prints one table: crops and
sources per split, epochs, training time, top-1 agreement with the teacher on the held-out test
sources, valence/arousal mean absolute difference through the circumplex, and faces per second of
teacher and student in onnxruntime at batch 1 and 32, on the threads the trailer pipeline gives its
emotion model (one per frame worker: 1 on 2 cores); then, per kind of source, the
ceiling (the teacher against itself on the mirrored crop and on the crop shifted 2 px) beside the
student, and the confusion matrix. The deploy gate (student/evaluate.py): >= 85% agreement on the
faces where the teacher is stable, overall agreement within 5 points of the teacher's
self-agreement, valence and arousal MAD <= 0.1, >= 3x the teacher's faces/s at batch 1 and 32.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _arguments() -> argparse.Namespace:
    shared = Path(os.environ.get("CINESEQ_SHARED", ROOT.parent / "shared"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=shared)
    parser.add_argument("--detector", default="yunet", choices=["yunet", "scrfd"])
    parser.add_argument("--presets", default="speed,fidelity",
                        help="comma-separated: speed (the default student, saved for the pipeline), fidelity")
    parser.add_argument("--cache", type=Path, default=ROOT / "storage" / "cache" / "trailer_emotion_crops")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the speed-first student goes (default: student_candidate.onnx beside the pipeline's student)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch log")
    return parser.parse_args()


def _rows(student, report) -> dict[str, str]:
    by_kind = ", ".join(f"{kind} {value:.0%}" for kind, value in report.agreement_by_kind.items())
    speeds = {f"faces/s at batch {b}, {report.threads} thread(s): teacher / student (ratio, gate >= 3)":
              f"{report.teacher_faces_per_s[b]:,.0f} / {report.student_faces_per_s[b]:,.0f} (x{report.speedup(b):.1f})"
              for b in sorted(report.teacher_faces_per_s)}
    return {
        "student input, strided teacher layers": f"{student.config.input_size} px, "
                                                  f"{dict(student.config.strides) or 'none'}",
        "epochs run (best epoch)": f"{student.epochs_run} ({student.best_epoch})",
        "training time, 2 threads": f"{student.train_seconds:.0f} s",
        "validation agreement (best epoch)": f"{student.best_val_agreement:.1%}",
        "test top-1 agreement with the teacher (gate: >= the teacher's self-agreement - 5 points)":
            f"{report.agreement:.1%} (>= {report.teacher_self_agreement - 0.05:.1%})",
        "agreement by kind of source": by_kind,
        "agreement where the teacher's top-1 probability >= 0.5": f"{report.agreement_confident:.1%} "
                                                                  f"({report.confident_share:.0%} of crops)",
        "the teacher vs itself: mirrored / shifted 2 px (ceiling)": f"{report.teacher_flip_agreement:.1%} / "
                                                                    f"{report.teacher_shift_agreement:.1%}",
        "stable faces (teacher's top-1 survives both)": f"{report.stable_share:.1%} of crops",
        "agreement on the stable faces (gate >= 85%)": f"{report.agreement_stable:.1%}",
        "valence MAD (target <= 0.1)": f"{report.valence_mad:.3f}",
        "arousal MAD (target <= 0.1)": f"{report.arousal_mad:.3f}",
        **speeds,
        "passes the deploy gate": "yes" if report.passes_gate() else
        "no: " + "; ".join(name for name, (*_, ok) in report.gate().items() if not ok),
    }


def _ceiling_table(report) -> str:
    from tabulate import tabulate

    rows = [(kind, c["crops"], f"{c['teacher_flip']:.1%}", f"{c['teacher_shift']:.1%}", f"{c['stable']:.1%}",
             f"{c['student']:.1%}", f"{c['student_on_stable']:.1%}") for kind, c in report.ceiling_by_kind.items()]
    return tabulate(rows, headers=["source", "test crops", "teacher: flip", "teacher: shift", "stable",
                                   "student", "student on stable"], tablefmt="github")


def main() -> None:
    args = _arguments()
    os.environ.setdefault("CINESEQ_MODEL_DIR", str(args.shared / "models"))
    if not args.quiet:  # the per-epoch log only, not the ONNX exporter's chatter
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        progress = logging.getLogger("cineseq_assets.trailers.student")
        progress.addHandler(handler)
        progress.setLevel(logging.INFO)
    import tempfile

    import cv2
    import torch
    from tabulate import tabulate

    from cineseq_assets.trailers.emotions import default_student_path, load_emotion_model
    from cineseq_assets.trailers.faces import make_detector
    from cineseq_assets.trailers.student.data import build_crop_dataset, discover_sources
    from cineseq_assets.trailers.student.evaluate import confusion_markdown, evaluate
    from cineseq_assets.trailers.student.export import export_onnx
    from cineseq_assets.trailers.student.net import FIDELITY_FIRST, SPEED_FIRST
    from cineseq_assets.trailers.student.train import train_student

    cv2.setNumThreads(2)
    torch.set_num_threads(2)  # training on 2 threads, as measured (the library leaves threads to its caller)
    started = time.perf_counter()
    dataset = build_crop_dataset(discover_sources(args.shared), make_detector(args.detector), args.cache)
    build_seconds = time.perf_counter() - started
    teacher = load_emotion_model("teacher")
    # Written beside the deployed student, not over it: the trailer_emotion_student asset decides
    # deployment (its agreement gate); the benchmark only measures.
    presets = {"speed": (SPEED_FIRST, args.out or default_student_path().with_name("student_candidate.onnx")),
               "fidelity": (FIDELITY_FIRST, Path(tempfile.mkdtemp()) / "student_fidelity.onnx")}
    columns, details = {}, []
    for name in args.presets.split(","):
        config, path = presets[name]
        student = train_student(dataset, teacher, config)
        report = evaluate(export_onnx(student, path), teacher, dataset)
        columns[f"{name}-first"] = _rows(student, report)
        curve = student.learning_curve()
        shown = curve[(curve["epoch"] % 5 == 0) | curve["epoch"].isin([1, student.best_epoch, student.epochs_run])]
        by_epoch = ", ".join(f"{epoch}: {agreement:.1%}" for epoch, agreement in zip(shown["epoch"], shown["val_agreement"]))
        details.append(f"\n{name}-first, validation agreement by epoch: {by_epoch}")
        details.append(f"\n{name}-first, per source:\n{_ceiling_table(report)}\n\n{name}-first, teacher's top-1 "
                       f"(rows) against the student's (columns):\n{confusion_markdown(report)}")
        print(f"{name}-first student saved to {path}")
    summary = dataset.summary()
    common = {
        "crops train / val / test": " / ".join(f"{summary[s]['crops']:,}" for s in ("train", "val", "test")),
        "sources train / val / test": " / ".join(f"{summary[s]['sources']:,}" for s in ("train", "val", "test")),
        "crop dataset: detect + crop, or read the cache": f"{build_seconds:.0f} s ({args.detector} faces)",
    }
    names = list(columns)
    table = [(what, value, *[""] * (len(names) - 1)) for what, value in common.items()]
    table += [(what, *[columns[n][what] for n in names]) for what in columns[names[0]]]
    print()
    print(tabulate(table, headers=["", *names], tablefmt="github"))
    print("\n".join(details))


if __name__ == "__main__":
    main()
