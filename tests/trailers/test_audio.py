"""Trailer audio: decoding real soundtracks with PyAV, silence, bad input, the feature curves."""

import av
import cv2
import numpy as np
import pytest

from cineseq_assets.media.video import VideoInputError
from cineseq_assets.trailers.audio import (
    CURVE_COLUMNS,
    SILENT_PEAK_DBFS,
    AudioTrack,
    audio_features,
    load_audio,
)

SR = 22050


def synthetic_track(samples, sr=SR):
    return AudioTrack(path="synthetic.wav", samples=np.asarray(samples, np.float32), sample_rate=sr, codec="pcm",
                      source_channels=1, source_sample_rate=sr, start_offset_s=0.0)


def write_audio_only(path, samples, sr=44100, codec="aac"):
    """A file with one mono audio stream and no video, written with PyAV in 1024-sample frames."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=sr)
        stream.layout = "mono"
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024].astype(np.float32),
                                               format="fltp", layout="mono")
            frame.sample_rate = sr
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def tone(seconds, sr=44100, amplitude=0.5, hz=440.0):
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def assert_finite_curves(features):
    assert list(features.curves.columns) == CURVE_COLUMNS
    assert np.isfinite(features.curves.to_numpy()).all()
    assert all(np.isfinite(value) for value in features.summary.values())
    assert features.curves["arousal"].between(0, 1).all()


# --------------------------------------------------------------------------------------------
# Decoding the real clips


def test_digitally_silent_track_is_flagged_with_flat_curves(media):
    track = load_audio(media / "WolfgangLanger_Pexels.mp4")
    assert track.duration_s == pytest.approx(19.7, abs=0.05)
    features = audio_features(track)
    assert features.silent and features.peak_dbfs < SILENT_PEAK_DBFS
    assert_finite_curves(features)
    assert len(features.curves) == 40
    for column in ["onset_strength", "spectral_flux", "spectral_centroid_hz", "tempo_bpm", "arousal"]:
        assert (features.curves[column] == 0).all()
    assert features.curves["rms_db"].nunique() == 1  # flat at the floor
    assert features.tempo_bpm == 0.0 and features.summary["silent"] == 1.0


def test_real_sound_in_the_hevc_mov_starts_after_the_video(media):
    track = load_audio(media / "face_noface.mov")
    assert (track.codec, track.source_channels, track.source_sample_rate) == ("aac", 2, 44100)
    # The audio stream starts 2.43 s into the video: padded with silence to stay on the video's clock.
    assert track.start_offset_s == pytest.approx(2.43, abs=0.01)
    assert track.duration_s == pytest.approx(6.4, abs=0.05)
    assert np.abs(track.samples[: int(2.4 * SR)]).max() == 0
    features = audio_features(track)
    assert not features.silent
    assert_finite_curves(features)
    before, after = features.curves[features.timestamps < 2.4], features.curves[features.timestamps >= 2.5]
    assert (before["arousal"] == 0).all() and (after["arousal"] > 0.2).all()
    assert after["rms_db"].mean() == pytest.approx(-23.6, abs=6)  # SOURCE.md: mean -23.6 dB


def test_six_channel_aac_is_downmixed_to_mono(media):
    track = load_audio(media / "bigbuckbunny_5s_720p.mp4")
    assert (track.source_channels, track.source_sample_rate) == (6, 48000)
    assert track.samples.ndim == 1 and track.samples.dtype == np.float32
    assert track.sample_rate == SR and track.duration_s == pytest.approx(5.3, abs=0.05)
    features = audio_features(track)
    assert not features.silent and features.tempo_bpm > 0
    assert_finite_curves(features)


def test_quiet_mp3_decodes_and_is_not_silent(media):
    track = load_audio(media / "single_face.mp4", sr=16000)
    assert track.codec.startswith("mp3") and track.sample_rate == 16000
    assert track.duration_s == pytest.approx(2.4, abs=0.05)
    features = audio_features(track)
    assert not features.silent
    assert features.peak_dbfs == pytest.approx(-35.9, abs=1.5)  # SOURCE.md: max -33.5 dB per channel
    assert_finite_curves(features)


# --------------------------------------------------------------------------------------------
# Bad input


def test_zero_length_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoInputError, match="empty"):
        load_audio(empty)


def test_random_bytes(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoInputError) as error:
        load_audio(garbage)
    assert str(garbage) in str(error.value)


def test_truncated_copy_without_its_index_fails_clearly(media, tmp_path):
    source = media / "face_noface.mov"  # index at the end: the first 30% cannot be opened
    truncated = tmp_path / "cut.mov"
    truncated.write_bytes(source.read_bytes()[: int(source.stat().st_size * 0.3)])
    with pytest.raises(VideoInputError, match="cut.mov"):
        load_audio(truncated)


def test_truncated_copy_keeps_what_was_read_and_flags_it(media, tmp_path):
    source = media / "WolfgangLanger_Pexels.mp4"  # index first: the first 30% holds about 6 s
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(source.read_bytes()[: int(source.stat().st_size * 0.3)])
    track = load_audio(truncated)
    assert 3 < track.duration_s < 10
    assert track.truncated and "19.69" in track.problem
    assert load_audio(source).truncated is False


def test_audio_only_file_decodes(tmp_path):
    path = write_audio_only(tmp_path / "soundtrack.m4a", tone(2.0))
    track = load_audio(path)
    assert track.source_channels == 1 and track.duration_s == pytest.approx(2.0, abs=0.1)
    # (AAC's own encoder overshoots where the tone stops abruptly: look at the body, not the peak.)
    assert np.percentile(np.abs(track.samples), 99) == pytest.approx(0.5, abs=0.05)
    features = audio_features(track)
    assert not features.silent
    # A 440 Hz tone: the centroid sits near 440 Hz wherever there is sound.
    assert features.curves["spectral_centroid_hz"].iloc[1:-1].to_numpy() == pytest.approx(440, rel=0.15)


def test_video_without_audio_gives_none(tmp_path):
    path = tmp_path / "mute.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for index in range(10):
        writer.write(np.full((48, 64, 3), index * 20, np.uint8))
    writer.release()
    assert load_audio(path) is None


def test_corrupt_audio_stream_raises(tmp_path):
    path = write_audio_only(tmp_path / "broken.m4a", tone(1.0))
    data = bytearray(path.read_bytes())
    start = data.index(b"mdat") + 4  # overwrite the coded audio, keep the container's index
    end = data.index(b"moov") - 4
    data[start:end] = np.random.default_rng(2).integers(0, 256, end - start, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(VideoInputError) as error:
        load_audio(path)
    assert "broken.m4a" in str(error.value) and "audio stream could not be decoded" in str(error.value)


# --------------------------------------------------------------------------------------------
# Features on synthetic sound


def test_common_timeline_every_hop(media):
    track = synthetic_track(np.zeros(int(3.2 * SR)))
    for hop in (0.25, 0.5, 1.0):
        features = audio_features(track, hop_s=hop)
        assert np.allclose(np.diff(features.timestamps), hop)
        assert len(features.curves) == int(np.ceil(3.2 / hop))
    with pytest.raises(ValueError, match="hop_s"):
        audio_features(track, hop_s=0)


def test_tempo_of_a_click_track():
    clicks = librosa_clicks(bpm=120, seconds=12)
    features = audio_features(synthetic_track(clicks))
    assert features.tempo_bpm == pytest.approx(120, rel=0.05)
    assert features.summary["beat_count"] >= 18


def librosa_clicks(bpm, seconds):
    import librosa

    times = np.arange(0, seconds, 60.0 / bpm)
    return librosa.clicks(times=times, sr=SR, length=int(seconds * SR)) * 0.5


def test_arousal_rises_from_a_quiet_hum_to_loud_hits():
    rng = np.random.default_rng(3)
    quiet = 0.003 * np.sin(2 * np.pi * 220 * np.arange(4 * SR) / SR)  # about -53 dBFS
    loud = 0.3 * rng.normal(size=4 * SR) * (np.arange(4 * SR) % (SR // 4) < SR // 20)  # noise bursts
    features = audio_features(synthetic_track(np.concatenate([quiet, loud])))
    curves = features.curves
    quiet_part, loud_part = curves[curves.time_s < 3.5], curves[curves.time_s > 4.5]
    assert loud_part["arousal"].mean() > 0.6 > 0.2 > quiet_part["arousal"].mean()
    assert loud_part["onset_strength"].mean() > quiet_part["onset_strength"].mean()
    assert loud_part["spectral_flux"].mean() > quiet_part["spectral_flux"].mean()
    assert features.summary["loud_fraction"] == pytest.approx(0.5, abs=0.15)


def test_near_silence_below_the_threshold_is_silent_and_just_above_is_not():
    below = synthetic_track(tone(2.0, sr=SR, amplitude=10 ** ((SILENT_PEAK_DBFS - 1) / 20)))
    above = synthetic_track(tone(2.0, sr=SR, amplitude=10 ** ((SILENT_PEAK_DBFS + 1) / 20)))
    assert audio_features(below).silent and not audio_features(above).silent


def test_a_clip_shorter_than_one_analysis_frame():
    features = audio_features(synthetic_track(tone(0.05, sr=SR)))
    assert len(features.curves) == 1
    assert_finite_curves(features)
