"""The trailer pipeline's concurrency: frames analysed in parallel give what one at a time gives, in
order, with a bounded number of frames in memory; the soundtrack beside them; errors still surface."""

import threading
import time

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.media.video import VideoInputError
from cineseq_assets.trailers.pipeline import TrailerAnalyzer, TrailerConfig, ordered_map


def test_ordered_map_keeps_the_order_when_later_items_finish_first():
    def slow_for_small(value):
        time.sleep(0.02 * (5 - value % 5))
        return value * value

    assert list(ordered_map(slow_for_small, range(20), workers=2)) == [v * v for v in range(20)]


def test_ordered_map_holds_at_most_depth_items_however_long_the_input():
    taken, in_flight, peak, lock = [], 0, 0, threading.Lock()

    def source():
        for value in range(200):
            taken.append(value)
            yield value

    def work(value):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.001)
        with lock:
            in_flight -= 1
        return value

    results = ordered_map(work, source(), workers=2, depth=4)
    first = next(results)
    # The consumer has one result: the source was read at most depth items ahead.
    assert first == 0 and len(taken) <= 4
    assert list(results) == list(range(1, 200)) and peak <= 2


def test_ordered_map_raises_the_workers_error_and_stops_reading():
    taken = []

    def source():
        for value in range(1000):
            taken.append(value)
            yield value

    def fails_on_three(value):
        if value == 3:
            raise ValueError("frame 3 is broken")
        return value

    with pytest.raises(ValueError, match="frame 3 is broken"):
        list(ordered_map(fails_on_three, source(), workers=2, depth=4))
    assert len(taken) < 10


@pytest.fixture(scope="module")
def analyses(shared_dir):
    """face_noface.mov (a face, then none; real sound) analysed one frame at a time and two at once."""
    clip = shared_dir / "media" / "face_noface.mov"
    results = {}
    for workers in (1, 2):
        analyzer = TrailerAnalyzer(TrailerConfig(emotion_model="teacher", frame_workers=workers,
                                                 detection_precision="fp32"))
        results[workers] = analyzer.analyze(clip)
    return results


def test_frames_in_parallel_give_the_same_timeline_as_one_at_a_time(analyses):
    one, two = analyses[1].visual, analyses[2].visual
    assert one["timestamp"].tolist() == two["timestamp"].tolist()
    assert one["n_faces"].tolist() == two["n_faces"].tolist()
    assert 0 < (one["n_faces"] > 0).sum() < len(one)  # the clip has a face, then none
    pd.testing.assert_frame_equal(one, two, atol=1e-5)
    pd.testing.assert_frame_equal(analyses[1].audio, analyses[2].audio)
    assert analyses[1].embedding.keys() == analyses[2].embedding.keys()


def test_the_summary_reports_the_stages_and_the_decoded_frames(analyses):
    summary = analyses[2].summary
    assert set(summary["seconds_by_stage"]) == {"visual", "audio", "faces", "emotions"}
    assert summary["frames_decoded"] >= summary["frames_sampled"] > 0
    assert summary["config"]["frame_workers"] == 2 and summary["config"]["decoder_threads"] == 1
    assert summary["has_audio"] and not summary["audio_silent"]


def test_one_worker_per_core_with_one_inference_thread_each(shared_dir, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    analyzer = TrailerAnalyzer(TrailerConfig(emotion_model="teacher", detection_precision="fp32"))
    assert analyzer.frame_workers == 2 and analyzer.detector.threads == 1
    alone = TrailerAnalyzer(TrailerConfig(emotion_model="teacher", detection_precision="fp32", frame_workers=1))
    assert alone.frame_workers == 1 and alone.detector.threads == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a Dask worker's budget
    assert TrailerAnalyzer(TrailerConfig(emotion_model="teacher", detection_precision="fp32")).frame_workers == 1


def test_a_broken_soundtrack_still_fails_the_analysis_with_its_message(shared_dir, tmp_path, monkeypatch):
    from cineseq_assets.trailers import pipeline

    def broken(path, sr=22050):
        raise VideoInputError(path, "its audio stream cannot be decoded", "Re-export the trailer.")

    monkeypatch.setattr(pipeline, "load_audio", broken)
    analyzer = TrailerAnalyzer(TrailerConfig(emotion_model="teacher", detection_precision="fp32"))
    with pytest.raises(VideoInputError, match="audio stream cannot be decoded"):
        analyzer.analyze(shared_dir / "media" / "single_face.mp4")


def test_no_thread_is_left_behind(shared_dir):
    before = set(threading.enumerate())
    analyzer = TrailerAnalyzer(TrailerConfig(emotion_model="teacher", detection_precision="fp32"))
    analyzer.analyze(shared_dir / "media" / "single_face.mp4")
    time.sleep(0.2)
    left = [t for t in set(threading.enumerate()) - before if t.name.startswith("trailer-")]
    assert not left, left
    assert np.isfinite(analyzer.analyze(shared_dir / "media" / "single_face.mp4").summary["processing_s"])
