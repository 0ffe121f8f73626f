"""Label sets, the valence/arousal circumplex, and the ONNX emotion models on real posed faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from cineseq_assets import model_files as registry
from cineseq_assets.trailers.convert import export_nchw_onnx
from cineseq_assets.trailers.emotions import (
    CIRCUMPLEX,
    FER2013_LABELS,
    FERPLUS_CONTRACT,
    FERPLUS_LABELS,
    EmotionModel,
    affect,
    load_emotion_model,
)


@pytest.fixture(autouse=True)
def model_dir(shared_dir, tmp_path, monkeypatch):
    """The registry finds third-party files in shared/models, and never in the user's own cache."""
    monkeypatch.setenv("CINESEQ_MODEL_DIR", str(shared_dir / "models"))
    monkeypatch.setenv("CINESEQ_CACHE_DIR", str(tmp_path / "empty_cache"))


@pytest.fixture
def teacher():
    return load_emotion_model("teacher")


def _posed_face(shared_dir, name: str, margin: int) -> np.ndarray:
    from cineseq_assets.trailers.faces import crop_face, make_detector

    image = cv2.imread(str(shared_dir / "media" / name))
    faces = make_detector("scrfd").detect(image)
    assert len(faces) == 1, f"{name}: expected one face, found {len(faces)}"
    return crop_face(image, faces[0], margin)


# ---------------------------------------------------------------------------------- labels, circumplex

def test_label_sets_match_the_model_registry():
    assert FER2013_LABELS == tuple(registry.get("fer_mini_xception_onnx").contract["labels"])
    assert FERPLUS_LABELS == tuple(registry.get("ferplus_8").contract["labels"])


def test_every_label_has_circumplex_coordinates_inside_the_unit_square():
    for label in FER2013_LABELS + FERPLUS_LABELS:
        valence, arousal = CIRCUMPLEX[label]
        assert -1 <= valence <= 1 and -1 <= arousal <= 1


def test_circumplex_places_the_basic_emotions_where_russell_does():
    assert CIRCUMPLEX["happy"][0] > 0
    assert CIRCUMPLEX["angry"][0] < 0 and CIRCUMPLEX["angry"][1] > 0
    assert CIRCUMPLEX["sad"][0] < 0 and CIRCUMPLEX["sad"][1] < 0
    assert CIRCUMPLEX["neutral"] == (0.0, 0.0)
    assert CIRCUMPLEX["anger"] == CIRCUMPLEX["angry"] and CIRCUMPLEX["happiness"] == CIRCUMPLEX["happy"]


def test_affect_of_a_certain_label_is_its_coordinates():
    one_hot = np.eye(len(FER2013_LABELS))[FER2013_LABELS.index("happy")]
    assert affect(one_hot, FER2013_LABELS) == pytest.approx(CIRCUMPLEX["happy"])


def test_affect_is_the_probability_weighted_mean_and_stays_in_range():
    rng = np.random.default_rng(0)
    for labels in (FER2013_LABELS, FERPLUS_LABELS):
        probabilities = rng.dirichlet(np.full(len(labels), 0.3), size=500)
        valence, arousal = affect(probabilities, labels)
        assert valence.shape == arousal.shape == (500,)
        assert np.all(np.abs(valence) <= 1) and np.all(np.abs(arousal) <= 1)
        expected = probabilities @ np.array([CIRCUMPLEX[label] for label in labels])
        np.testing.assert_allclose(np.column_stack([valence, arousal]), expected, atol=1e-12)


def test_affect_rejects_unknown_labels_and_wrong_widths():
    with pytest.raises(ValueError, match="circumplex"):
        affect(np.ones(2) / 2, ("happy", "bored"))
    with pytest.raises(ValueError, match="columns"):
        affect(np.ones(6) / 6, FER2013_LABELS)


# ------------------------------------------------------------------------------------- the teacher

def test_teacher_reads_the_posed_photos_as_source_md_says(shared_dir, teacher):
    """SOURCE.md: happy 0.99 on 0-f15-hao-ph.jpg and surprise on top for 0-f1-su-ph.jpg."""
    margin = teacher.contract.face_margin_px
    probabilities = teacher.predict([_posed_face(shared_dir, "0-f15-hao-ph.jpg", margin),
                                     _posed_face(shared_dir, "0-f1-su-ph.jpg", margin)])
    happy, surprise = teacher.labels.index("happy"), teacher.labels.index("surprise")
    assert probabilities[0].argmax() == happy and probabilities[0, happy] >= 0.95
    assert probabilities[1].argmax() == surprise
    valence, _ = affect(probabilities[0], teacher.labels)
    assert valence > 0.7


def test_predict_batches_crops_of_any_size(shared_dir, teacher):
    face = _posed_face(shared_dir, "0-f15-hao-ph.jpg", 10)
    crops = [face, cv2.resize(face, (40, 52)), cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)] * 30  # > one batch of 64
    probabilities = teacher.predict(crops)
    assert probabilities.shape == (90, 7)
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(probabilities[0], probabilities[60], atol=1e-6)
    assert teacher.predict([]).shape == (0, 7)
    assert teacher.labels == FER2013_LABELS and "fer_mini_xception" in teacher.name


# ------------------------------------------------------------------------------------- the factory

def test_student_falls_back_to_the_teacher_until_one_is_trained(tmp_path):
    with pytest.warns(UserWarning, match="no trained emotion student"):
        model = load_emotion_model("student", student_path=tmp_path / "missing.onnx")
    assert model.labels == FER2013_LABELS and "teacher" in model.name


def test_missing_ferplus_says_how_to_get_it():
    with pytest.raises(registry.ModelNotFoundError, match="emotion-ferplus-8.onnx"):
        load_emotion_model("ferplus")


class _MeanPixelLogits(torch.nn.Module):
    """A stand-in for FER+ with its 8 logits: logit 0 is the mean input pixel, the rest 0."""

    def forward(self, x):
        return torch.cat([x.mean(dim=(1, 2, 3))[:, None], torch.zeros(x.shape[0], 7)], dim=1)


def test_ferplus_contract_feeds_raw_pixels_and_softmaxes_logits(tmp_path):
    path = export_nchw_onnx(_MeanPixelLogits(), tmp_path / "fake_ferplus.onnx", (1, 64, 64))
    model = EmotionModel(path, FERPLUS_CONTRACT, "fake ferplus")
    white = np.full((30, 30, 3), 255, np.uint8)
    probabilities = model.predict([white])
    assert probabilities.shape == (1, 8) and probabilities.sum() == pytest.approx(1, abs=1e-6)
    # raw 0-255 input: logit 255 wins outright; with [-1, 1] scaling it would be e / (e + 7) = 0.28
    assert probabilities[0, 0] > 0.99
    assert model.labels == FERPLUS_LABELS
