"""The trailer embedding on synthetic timelines whose answers are known."""

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.trailers.embedding import (
    ARC_POINTS,
    EMBEDDING_COLUMNS,
    alignment,
    arc_shape,
    build_embedding,
    embedding_vector,
    resample_arc,
)


def _visual(times, valence, arousal, faces=None):
    faces = np.ones(len(times), dtype=int) if faces is None else np.asarray(faces)
    frame = pd.DataFrame({"timestamp": times, "n_faces": faces, "valence": valence, "arousal": arousal})
    frame.loc[frame["n_faces"] == 0, ["valence", "arousal"]] = np.nan
    frame["prob_happy"] = np.where(faces > 0, 0.75, np.nan)
    frame["prob_neutral"] = np.where(faces > 0, 0.25, np.nan)
    return frame


def _audio(times, rms):
    return pd.DataFrame({"timestamp": times, "rms": rms, "arousal": rms / max(rms.max(), 1e-9)})


def test_arc_of_a_rising_line_is_a_rising_line():
    times = np.arange(0, 10, 0.5)
    arc = resample_arc(times, times / 10, duration_s=9.5)  # the last sample ends the trailer
    assert len(arc) == ARC_POINTS and arc[0] == pytest.approx(0) and arc[-1] == pytest.approx(0.95)
    shape = arc_shape(arc)
    assert shape["slope"] == pytest.approx(0.95, rel=1e-6) and shape["peak_position"] == 1.0


def test_alignment_finds_the_lag_at_which_audio_leads():
    step = 0.5
    times = np.arange(0, 30, step)
    rng = np.random.default_rng(0)
    energy = rng.random(len(times))
    visual_arousal = np.roll(energy, 4)  # the picture follows the sound by 4 steps = 2 s
    visual_arousal[:4] = np.nan
    result = alignment(_visual(times, visual_arousal, visual_arousal), _audio(times, energy), silent=False)
    assert result["av_alignment_best_lag_s"] == pytest.approx(2.0)
    assert result["av_alignment_best_corr"] == pytest.approx(1.0)
    assert abs(result["av_alignment_corr"]) < 0.5


def test_missing_groups_are_nan_with_indicators_not_imputed():
    times = np.arange(0, 5, 0.5)
    no_face = _visual(times, np.nan, np.nan, faces=np.zeros(len(times)))
    row = build_embedding(no_face, None, duration_s=5)
    assert row["has_faces"] == 0 and row["has_audio"] == 0 and row["face_presence_ratio"] == 0
    assert np.isnan(row["valence_mean"]) and np.isnan(row["audio_rms_mean"]) and np.isnan(row["av_alignment_corr"])
    assert list(row) == EMBEDDING_COLUMNS


def test_silent_audio_is_flagged_and_has_no_alignment():
    times = np.arange(0, 10, 0.5)
    row = build_embedding(_visual(times, 0.2, 0.4), _audio(times, np.zeros(len(times))), duration_s=10, audio_silent=True)
    assert row["has_audio"] == 1 and row["audio_silent"] == 1 and np.isnan(row["av_alignment_corr"])


def test_statistics_presence_and_emotion_shares():
    times = np.arange(0, 4, 0.5)
    faces = [1, 1, 0, 0, 1, 1, 2, 1]
    valence = np.array([0.1, 0.3, 0, 0, 0.5, 0.2, 0.4, 0.6])
    row = build_embedding(_visual(times, valence, valence, faces), None, duration_s=4)
    seen = valence[np.array(faces) > 0]
    assert row["face_presence_ratio"] == pytest.approx(6 / 8)
    assert row["valence_mean"] == pytest.approx(seen.mean()) and row["valence_max"] == pytest.approx(0.6)
    assert row["valence_volatility"] == pytest.approx(np.std(np.diff(seen)))
    assert row["emotion_happy_mean"] == pytest.approx(0.75) and row["emotion_angry_mean"] == 0.0
    assert embedding_vector(row).shape == (len(EMBEDDING_COLUMNS),)
