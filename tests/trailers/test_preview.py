"""The demo's Trailer tab back end: one uploaded video -> chart, summary, embedding; or which models are missing."""

import pytest

from cineseq_assets.errors import CineSeqError
from cineseq_assets.trailers.embedding import EMBEDDING_COLUMNS
from cineseq_assets.trailers.preview import analyze_upload, missing_models_message


def test_a_real_clip_gives_its_chart_summary_and_embedding(media, tmp_path):
    with pytest.warns(UserWarning, match="no trained emotion student"):  # an empty storage: no student yet
        preview = analyze_upload(media / "single_face.mp4", storage=tmp_path)
    assert preview.embedding_table["feature"].tolist() == EMBEDDING_COLUMNS
    assert (preview.embedding_table["meaning"] != "").all()
    assert "frames with faces" in preview.summary_markdown and "Audio-visual alignment" in preview.summary_markdown
    assert preview.title == "single_face.mp4"
    assert {"timestamp", "n_faces", "valence", "arousal"} <= set(preview.visual.columns) and len(preview.visual)
    assert preview.audio is None or {"timestamp", "rms", "arousal"} <= set(preview.audio.columns)
    assert "fer_mini_xception" in preview.summary_markdown  # the teacher, named, stands in for the student


def test_missing_models_are_named_with_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("CINESEQ_MODEL_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("CINESEQ_CACHE_DIR", str(tmp_path / "cache"))
    message = missing_models_message()
    assert "scrfd_2.5g_kps_640x640.onnx" in message and "fer_mini_xception_nchw_1x64x64_7cls.onnx" in message
    assert "cineseq models fetch scrfd_2.5g_kps" in message
    with pytest.raises(CineSeqError, match="model files are missing"):
        analyze_upload(tmp_path / "video.mp4")


def test_present_models_leave_no_message(shared_dir):
    assert missing_models_message() is None
