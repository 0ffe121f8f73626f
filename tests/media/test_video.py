"""Video files: probing, timestamp sampling, truncated and bad files, shot boundaries.

Real clips come from shared/media (facts in its SOURCE.md); bad and synthetic files are
written into tmp_path with PyAV and OpenCV.
"""

import math
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from cineseq_assets.errors import CineSeqError
from cineseq_assets.media.shots import hsv_histogram, shot_boundaries, shot_ids
from cineseq_assets.media.video import Frame, VideoInfo, VideoInputError, probe, sample_frames


def write_cv2_video(path, images, fps):
    """An mp4v (MPEG-4 part 2) video without audio, as OpenCV writes it."""
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    for image in images:
        writer.write(image)
    writer.release()
    return path


def numbered_frame(index, size=(192, 108)):
    """A frame whose colour and printed number change with its index, so every frame differs."""
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[:] = (index * 2 % 256, 255 - index * 2 % 256, index * 37 % 256)
    cv2.putText(image, str(index), (10, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
    return image


def write_pyav_video(path, codec, options, frame_count=120, fps=24):
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt, stream.options = 192, 108, "yuv420p", options
        for index in range(frame_count):
            frame = av.VideoFrame.from_ndarray(numbered_frame(index), format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def every_frame_reference(path, rate):
    """What sample_frames must return, by decoding every frame: the first at or after each k/rate."""
    frames, next_time = [], 0.0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time >= next_time - 1e-4:
                frames.append(Frame(frame.time, frame.to_ndarray(format="bgr24")))
                next_time = (math.floor((frame.time + 1e-4) * rate) + 1) / rate
    return frames


# --------------------------------------------------------------------------------------------
# probe


def test_probe_reads_the_face_clip_facts(media):
    info = probe(media / "WolfgangLanger_Pexels.mp4")
    assert isinstance(info, VideoInfo)
    assert (info.width, info.height, info.codec) == (640, 360, "h264")
    assert info.fps == pytest.approx(23.976, abs=1e-3)
    assert info.duration_s == pytest.approx(19.7, abs=0.05)
    assert info.frame_count == 472
    assert not info.variable_frame_rate
    assert (info.has_audio, info.audio_codec, info.audio_channels) == (True, "aac", 2)


def test_probe_detects_the_variable_frame_rate_of_the_hevc_mov(media):
    info = probe(media / "face_noface.mov")
    assert (info.width, info.height, info.codec) == (960, 540, "hevc")
    assert info.variable_frame_rate
    assert info.fps == pytest.approx(26.4, abs=0.1)  # the average, as OpenCV reports it
    assert info.frame_count == 169
    assert info.duration_s == pytest.approx(6.4, abs=0.05)
    # The audio is the file's first stream and the video its second: both are still found.
    assert (info.audio_codec, info.audio_channels, info.audio_sample_rate) == ("aac", 2, 44100)


def test_probe_reads_the_720p_clip_and_its_six_audio_channels(media):
    info = probe(media / "bigbuckbunny_5s_720p.mp4")
    assert (info.width, info.height, info.fps) == (1280, 720, 25.0)
    assert info.duration_s == pytest.approx(5.3, abs=0.05)
    assert (info.audio_channels, info.audio_sample_rate) == (6, 48000)
    assert not info.variable_frame_rate


def test_probe_keeps_constant_rate_when_an_edit_list_drops_frames(media):
    # no_face.mp4's average rate (23.67) differs from its nominal 24 fps only because its edit
    # list drops three frames: the packet spacing is constant.
    info = probe(media / "no_face.mp4")
    assert (info.width, info.height, info.codec) == (960, 540, "h264")
    assert info.fps == 24.0 and not info.variable_frame_rate
    assert info.duration_s == pytest.approx(3.9, abs=0.1)


# --------------------------------------------------------------------------------------------
# bad input


def assert_clear_error(error_info, path, *words):
    message = str(error_info.value)
    assert isinstance(error_info.value, CineSeqError)
    assert str(path) in message
    for word in words:
        assert word in message


def test_missing_file(tmp_path):
    with pytest.raises(VideoInputError) as error:
        probe(tmp_path / "nope.mp4")
    assert_clear_error(error, tmp_path / "nope.mp4", "does not exist")


def test_zero_length_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoInputError) as error:
        sample_frames(empty)
    assert_clear_error(error, empty, "empty", "again")


def test_random_bytes_are_not_a_media_file(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoInputError) as error:
        probe(garbage)
    assert_clear_error(error, garbage, "not a readable media file")


def test_truncated_file_without_its_index_fails_clearly(media, tmp_path):
    # bigbuckbunny keeps its index (moov) at the end: the first 30% has none.
    source = media / "bigbuckbunny_5s_720p.mp4"
    truncated = tmp_path / "bunny_cut.mp4"
    truncated.write_bytes(source.read_bytes()[: int(source.stat().st_size * 0.3)])
    with pytest.raises(VideoInputError) as error:
        sample_frames(truncated)
    assert_clear_error(error, truncated, "corrupt", "fetch it again")


def test_truncated_file_yields_what_was_read_and_flags_it(media, tmp_path):
    # WolfgangLanger has its index first: the first 30% keeps about 6 of its 19.7 s.
    source = media / "WolfgangLanger_Pexels.mp4"
    truncated = tmp_path / "wolfgang_cut.mp4"
    truncated.write_bytes(source.read_bytes()[: int(source.stat().st_size * 0.3)])
    sampler = sample_frames(truncated, rate=2.0)
    frames = list(sampler)
    assert 5 <= len(frames) < 20
    assert sampler.truncated and sampler.frames_yielded == len(frames)
    assert "19.6" in sampler.problem or "decoding failed" in sampler.problem
    with pytest.raises(VideoInputError) as error:
        list(sample_frames(truncated, rate=2.0, strict=True))
    assert_clear_error(error, truncated, "truncated")


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "soundtrack.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        samples = np.zeros((1, 44100), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 44100
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(VideoInputError) as error:
        probe(path)
    assert_clear_error(error, path, "no video stream")


def test_picture_above_the_resolution_limit_is_refused(tmp_path, media):
    wide = write_cv2_video(tmp_path / "wide.mp4", [np.zeros((100, 5000, 3), np.uint8)] * 3, fps=10)
    with pytest.raises(VideoInputError) as error:
        probe(wide)
    assert_clear_error(error, wide, "5000x100", "4096x2304", "Downscale")
    # The limit is configurable, and a portrait picture is compared the same way as a landscape one.
    with pytest.raises(VideoInputError):
        probe(media / "WolfgangLanger_Pexels.mp4", max_resolution=(320, 180))
    assert probe(media / "WolfgangLanger_Pexels.mp4", max_resolution=(360, 640)).width == 640


def test_codec_without_a_decoder_is_refused(media, monkeypatch):
    def no_decoder(name, mode="r"):
        raise av.codec.codec.UnknownCodecError(name)

    monkeypatch.setattr(av, "Codec", no_decoder)
    with pytest.raises(VideoInputError) as error:
        probe(media / "face_noface.mov")
    assert_clear_error(error, media / "face_noface.mov", "'hevc' cannot be decoded", "Re-encode")


# --------------------------------------------------------------------------------------------
# sampling


@pytest.mark.parametrize("name", ["WolfgangLanger_Pexels.mp4", "bigbuckbunny_5s_720p.mp4", "face_noface.mov",
                                  "no_face.mp4", "single_face.mp4"])
def test_two_frames_per_second_by_timestamp(media, name):
    info = probe(media / name)
    frames = list(sample_frames(media / name, rate=2.0))
    times = np.array([frame.timestamp_s for frame in frames])
    assert abs(len(frames) - info.duration_s * 2) <= 1.5
    assert times[0] == 0.0 and np.all(np.diff(times) > 0)
    # Each sample is the first frame at or after k/2 s: late by less than one frame interval.
    lateness = times - np.arange(len(times)) / 2.0
    assert np.all(lateness >= -1e-6) and np.all(lateness < 1.2 / info.fps + 0.04)
    assert frames[0].image_bgr.shape == (info.height, info.width, 3)
    assert frames[0].image_bgr.dtype == np.uint8


def test_variable_frame_rate_sampling_matches_decoding_every_frame(media):
    path = media / "face_noface.mov"
    expected = every_frame_reference(path, 2.0)
    got = list(sample_frames(path, rate=2.0))
    assert [round(t, 6) for t, _ in got] == [round(t, 6) for t, _ in expected]
    assert all(np.array_equal(a.image_bgr, b.image_bgr) for a, b in zip(got, expected))


@pytest.mark.parametrize("codec,options", [
    ("libx264", {"g": "12", "keyint_min": "12", "sc_threshold": "0", "bf": "3"}),
    # Open groups of pictures: B-frames after a keyframe show before it and reference the group before.
    ("libx264", {"g": "12", "keyint_min": "12", "sc_threshold": "0", "bf": "3", "x264-params": "open_gop=1"}),
    ("libx265", {"x265-params": "keyint=12:min-keyint=12:scenecut=0:open-gop=1:bframes=4:log-level=error"}),
    ("libx264", {"g": "1"}),  # every frame a keyframe
    ("mpeg4", {"g": "12", "bf": "2"}),
])
@pytest.mark.parametrize("rate", [0.3, 0.7, 1.0, 1.1, 2.0, 24.0])
def test_skipping_groups_of_pictures_returns_the_same_pixels(tmp_path, codec, options, rate):
    """Keyframes every 0.5 s: at low rates whole groups are skipped undecoded; the frames must be
    exactly those decoding everything gives."""
    path = write_pyav_video(tmp_path / f"{codec}.mp4", codec, options)
    expected = every_frame_reference(path, rate)
    got = list(sample_frames(path, rate=rate))
    assert [round(t, 6) for t, _ in got] == [round(t, 6) for t, _ in expected]
    assert all(np.array_equal(a.image_bgr, b.image_bgr) for a, b in zip(got, expected))


def test_frames_nothing_references_are_not_decoded_before_the_wanted_time(tmp_path):
    """x264 with 3 B-frames: most of them are never shown at 2 frames/s nor referenced, so the
    decoder skips them, and the sampled frames are still exactly those decoding everything gives."""
    path = write_pyav_video(tmp_path / "long_gop.mp4", "libx264", {"bf": "3"}, frame_count=240)
    sampler = sample_frames(path, rate=2.0)
    got = list(sampler)
    expected = every_frame_reference(path, 2.0)
    assert [round(t, 6) for t, _ in got] == [round(t, 6) for t, _ in expected]
    assert all(np.array_equal(a.image_bgr, b.image_bgr) for a, b in zip(got, expected))
    assert len(got) == 20 and sampler.frames_decoded < 0.8 * 240


def test_a_frame_just_before_a_sampling_time_takes_that_time_once(media):
    # At 5 frames/s the 24 fps clip has a frame at 16.59992 s, within the 0.1 ms tolerance of
    # 16.6 s: it is the sample for 16.6 s, and the frame at 16.64 s is not taken for the same time.
    times = np.array([frame.timestamp_s for frame in sample_frames(media / "WolfgangLanger_Pexels.mp4", 5.0)])
    slots = np.floor((times + 1e-4) * 5)
    assert np.all(np.diff(slots) >= 1)
    assert 16.599 < times[83] < 16.6 and 16.64 not in np.round(times, 2)


def test_a_gap_between_frames_gives_one_sample_not_repeats(tmp_path):
    # A variable-rate file with no new frame from 0.4 s to 2.4 s: the frame at 2.4 s is the first
    # at or after 0.5, 1.0, 1.5 and 2.0 s, and is yielded once; sampling goes on from 2.5 s.
    path = tmp_path / "held.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 192, 108, "yuv420p"
        for index, pts in enumerate([0, 1, 2, 3, 4, 24, 25, 26]):
            frame = av.VideoFrame.from_ndarray(numbered_frame(index), format="bgr24")
            frame.pts, frame.time_base = pts, Fraction(1, 10)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    times = [round(t, 3) for t, _ in sample_frames(path, rate=2.0)]
    assert times == [0.0, 2.4, 2.5]


def test_downscale_keeps_the_aspect_ratio(media):
    frame = next(iter(sample_frames(media / "bigbuckbunny_5s_720p.mp4", rate=2.0, max_side=320)))
    assert frame.image_bgr.shape == (180, 320, 3)
    small = next(iter(sample_frames(media / "single_face.mp4", rate=2.0, max_side=1000)))
    assert small.image_bgr.shape == (360, 640, 3)  # never upscaled


def test_rate_must_be_positive(media):
    with pytest.raises(ValueError, match="rate"):
        sample_frames(media / "single_face.mp4", rate=0)


# --------------------------------------------------------------------------------------------
# shot boundaries


def panning_shot(image, frame_count, size=(320, 240)):
    """A slow pan across a picture: within-shot change without a cut."""
    big = cv2.resize(image, (size[0] + 2 * frame_count, size[1]))
    return [big[:, 2 * i: 2 * i + size[0]].copy() for i in range(frame_count)]


def solid_shot(bgr, frame_count, size=(320, 240), seed=0):
    noise = np.random.default_rng(seed).normal(0, 4, (frame_count, size[1], size[0], 3))
    return [np.clip(np.full((size[1], size[0], 3), bgr) + n, 0, 255).astype(np.uint8) for n in noise]


def test_shot_boundaries_found_at_the_next_sample_after_each_cut(tmp_path, media):
    fps = 10
    newton, gauss = cv2.imread(str(media / "newton.png")), cv2.imread(str(media / "gauss.png"))
    shots = [solid_shot((30, 30, 200), 13), panning_shot(newton, 15), panning_shot(gauss, 13),
             solid_shot((60, 60, 60), 15, seed=1), panning_shot(newton, 14), solid_shot((200, 150, 20), 10, seed=2)]
    cuts = np.cumsum([len(shot) for shot in shots])[:-1] / fps  # 1.3, 2.8, 4.1, 5.6, 7.0 s
    path = write_cv2_video(tmp_path / "cuts.mp4", [image for shot in shots for image in shot], fps)
    frames = list(sample_frames(path, rate=2.0))
    boundaries = shot_boundaries(frames)
    expected = [math.ceil(cut * 2 - 1e-9) / 2 for cut in cuts]  # the first sample at or after the cut
    assert boundaries == pytest.approx(expected, abs=1e-3)
    ids = shot_ids([frame.timestamp_s for frame in frames], boundaries)
    assert ids[0] == 0 and ids[-1] == len(cuts) and np.all(np.diff(ids) >= 0)


def test_the_cut_in_the_real_mov_is_found(media):
    # face_noface.mov cuts from a man at a door to a cartoon sky (Caminandes) between 2.0 and 2.5 s.
    assert shot_boundaries(sample_frames(media / "face_noface.mov", rate=2.0)) == pytest.approx([2.527], abs=0.01)


def test_no_cut_in_a_single_take(media):
    # WolfgangLanger is one continuous close-up of a face.
    assert shot_boundaries(sample_frames(media / "WolfgangLanger_Pexels.mp4", rate=2.0)) == []


def test_shot_boundaries_of_too_few_frames():
    assert shot_boundaries([]) == []
    assert shot_boundaries([Frame(0.0, np.zeros((8, 8, 3), np.uint8))]) == []


def test_shot_ids_count_the_boundaries_at_or_before_each_time():
    assert shot_ids([0.0, 0.5, 1.0, 1.5, 2.0], [1.0, 2.0]).tolist() == [0, 0, 1, 1, 2]
    assert shot_ids([0.0, 3.0], []).tolist() == [0, 0]


def test_histogram_is_normalized():
    histogram = hsv_histogram(np.full((10, 10, 3), 128, np.uint8))
    assert histogram.sum() == pytest.approx(1.0)
