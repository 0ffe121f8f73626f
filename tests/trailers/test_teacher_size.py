"""The FER+-sized teacher stand-in of benchmarks/teacher_size.py: as large as emotion-ferplus-8, and it runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cineseq_assets.processes import onnx_cpu_session

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "teacher_size.py"
FERPLUS_PARAMETERS = 8.8e6  # emotion-ferplus-8.onnx: about 35 MB of float32 weights


@pytest.fixture(scope="module")
def teacher_size(load_script):
    """benchmarks/ is not a package, so the script is loaded from its file (which only defines things)."""
    return load_script(SCRIPT)


def test_standin_is_as_large_as_ferplus(teacher_size):
    parameters = sum(p.numel() for p in teacher_size.ferplus_standin().parameters())
    assert abs(parameters - FERPLUS_PARAMETERS) <= 0.1 * FERPLUS_PARAMETERS


def test_standin_onnx_runs_in_onnxruntime(teacher_size, tmp_path):
    path = teacher_size.export_standin(tmp_path / "ferplus_standin.onnx")
    # The ONNX file holds the same weights: its size matches the real file's to within 10%.
    assert abs(path.stat().st_size - teacher_size.FERPLUS_ONNX_BYTES) <= 0.1 * teacher_size.FERPLUS_ONNX_BYTES
    session = onnx_cpu_session(path)
    face = np.random.default_rng(0).uniform(0, 255, (1, 1, 64, 64)).astype(np.float32)  # FER+ takes raw 0-255
    logits = session.run(None, {session.get_inputs()[0].name: face})[0]
    assert logits.shape == (1, 8)
    assert np.isfinite(logits).all()
