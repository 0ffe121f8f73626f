"""The int8 SCRFD: derived offline from the float model and the shared clips, and as accurate as the float model.

The gates: the same face counts on the real images (29 Solvay, 1 Newton, 1 Gauss, 5 multi_face)
and every float face matched by an int8 face with IoU > 0.8. The model is derived once for this
module into a temporary cache (~15 s on 2 cores) by `cineseq models prepare`, as setup derives it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cineseq_assets.cli import main as cli_main
from cineseq_assets.errors import CineSeqError
from cineseq_assets.model_files import get
from cineseq_assets.trailers.faces import ScrfdDetector, box_iou, make_detector
from cineseq_assets.trailers.quantize import Int8NotPreparedError, QuantizationError, int8_path, int8_scrfd

GATES = [("solvay_conference_1927.jpg", 29), ("newton.png", 1), ("gauss.png", 1), ("multi_face.jpg", 5)]
POSED = ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg"]


@pytest.fixture(scope="module")
def model_path(shared_dir) -> Path:
    return shared_dir / "models" / get("scrfd_2.5g_kps").filename


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A fresh user cache for this module: the int8 model is derived here, not in the user's cache."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CINESEQ_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def prepared(cache, model_path, shared_dir) -> Path:
    """Derived the way setup derives it: `cineseq models prepare`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CINESEQ_MODEL_DIR", str(model_path.parent))
        patch.setenv("CINESEQ_SHARED", str(shared_dir))
        assert cli_main(["models", "prepare"]) == 0
        assert cli_main(["models", "prepare"]) == 0  # a second run finds it and derives nothing
    return int8_path(model_path)


@pytest.fixture(scope="module")
def int8(prepared, model_path) -> ScrfdDetector:
    return ScrfdDetector(model_path, precision="int8")


@pytest.fixture(scope="module")
def fp32(model_path) -> ScrfdDetector:
    return ScrfdDetector(model_path, precision="fp32")


def read(media: Path, name: str) -> np.ndarray:
    image = cv2.imread(str(media / name))
    assert image is not None, f"cannot read {media / name}"
    return image


@pytest.mark.parametrize("image, count", GATES)
def test_int8_finds_as_many_faces_as_the_float_model(int8, fp32, media, image, count):
    picture = read(media, image)
    assert len(fp32.detect(picture)) == count
    assert len(int8.detect(picture)) == count


@pytest.mark.parametrize("image, count", GATES)
def test_int8_boxes_match_the_float_boxes(int8, fp32, media, image, count):
    picture = read(media, image)
    ours = int8.detect(picture)
    for face in fp32.detect(picture):
        best = max(ours, key=lambda other: box_iou(face.box, other.box))
        assert box_iou(face.box, best.box) > 0.8, (face.box, best.box)
        assert abs(face.score - best.score) < 0.1  # measured <= 0.05: no face drifts towards the threshold
        assert np.abs(face.keypoints - best.keypoints).max() < 0.1 * face.width


def test_int8_still_finds_the_close_ups(int8, media):
    assert [len(int8.detect(read(media, image))) for image in POSED] == [1, 1, 1, 1]


def test_the_derived_model_is_cached_under_the_source_hash(int8, cache, model_path):
    derived = int8_path(model_path)
    assert derived.is_file() and derived.parent == cache / "derived"
    assert get("scrfd_2.5g_kps").sha256[:16] in derived.name
    stamp = derived.stat().st_mtime_ns
    again = make_detector("scrfd", model_path=model_path, precision="int8")  # reuses it, derives nothing
    assert derived.stat().st_mtime_ns == stamp and again.precision == "int8"
    assert not list(derived.parent.glob(".scrfd-int8-*"))  # no staged leftovers


def test_missing_calibration_clips_are_a_clear_error(tmp_path, monkeypatch, model_path):
    monkeypatch.setenv("CINESEQ_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(QuantizationError, match="precision='fp32'") as error:
        int8_scrfd(model_path, media_dir=tmp_path / "no_media")
    assert isinstance(error.value, CineSeqError) and "WolfgangLanger_Pexels.mp4" in str(error.value)
    assert not (tmp_path / "cache").exists()


def test_a_detector_never_derives_the_int8_model_itself(tmp_path, monkeypatch, model_path, shared_dir):
    # The clips are there, but deriving is setup's job: auto runs fp32 and says how to prepare int8.
    monkeypatch.setenv("CINESEQ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CINESEQ_SHARED", str(shared_dir))
    with pytest.warns(UserWarning, match="cineseq models prepare"):
        detector = ScrfdDetector(model_path)
    assert detector.precision == "fp32"
    with pytest.raises(Int8NotPreparedError, match="cineseq models prepare") as error:
        ScrfdDetector(model_path, precision="int8")
    assert isinstance(error.value, CineSeqError)
    assert not (tmp_path / "cache").exists()


def test_the_model_status_reports_whether_int8_is_prepared(prepared, cache, model_path, capsys, monkeypatch):
    monkeypatch.setenv("CINESEQ_MODEL_DIR", str(model_path.parent))
    assert cli_main(["models"]) == 0
    assert f"scrfd_2.5g_kps int8: prepared ({prepared})" in capsys.readouterr().out
    monkeypatch.setenv("CINESEQ_CACHE_DIR", str(cache / "elsewhere"))
    assert cli_main(["models"]) == 0
    assert "int8: not prepared: run `cineseq models prepare`" in capsys.readouterr().out


def test_unknown_precision_is_refused(model_path):
    with pytest.raises(ValueError, match="auto, int8, fp32"):
        ScrfdDetector(model_path, precision="fp16")
