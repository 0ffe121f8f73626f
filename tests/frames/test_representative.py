"""Representative frames: one sharp, non-black, non-text frame per shot.

Real clips and photos come from shared/media (facts in its SOURCE.md); synthetic videos are
written into tmp_path with OpenCV (mp4v). Only face_noface.mov has a cut (at 2.527 s); the other
clips are single takes.
"""

import cv2
import numpy as np
import pandas as pd
import pytest

from cineseq_assets.frames.representative import (
    ShotFrame,
    brightness,
    frames_table,
    is_black,
    letterbox_crop,
    looks_like_text_card,
    representative_frames,
    save_thumbnails,
    sharpness,
    text_score,
)
from cineseq_assets.media.shots import shot_boundaries, shot_ids
from cineseq_assets.media.video import VideoInputError, sample_frames

W, H, FPS = 320, 180, 10


def write_cv2_video(path, images, fps=FPS):
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), "this OpenCV build cannot write mp4v"
    for image in images:
        writer.write(image)
    writer.release()
    return path


def title_card(text="THE SEQUEL", background=0, size=(W, H), scale=1.2, thickness=2, colour=(255, 255, 255),
               font=cv2.FONT_HERSHEY_SIMPLEX):
    image = np.full((size[1], size[0], 3), background, np.uint8)
    cv2.putText(image, text, (size[0] // 8, size[1] // 2), font, scale, colour, thickness, cv2.LINE_AA)
    return image


def panning_shot(picture, frame_count, blur_of):
    """A slow pan across a picture, frame i blurred with Gaussian sigma blur_of(i) (0: sharp)."""
    big = cv2.resize(picture, (W + 2 * frame_count, H), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(frame_count):
        frame = big[:, 2 * i: 2 * i + W].copy()
        sigma = blur_of(i)
        frames.append(cv2.GaussianBlur(frame, (0, 0), sigma) if sigma > 0 else frame)
    return frames


def direct_choice(path, k=4.0, min_distance=0.3):
    """What representative_frames must choose, computed frame by frame with the public measures:
    {shot: (timestamp, sharpness)} of the sharpest eligible frame of each shot."""
    frames = list(sample_frames(path, rate=2.0, max_side=480))
    boundaries = shot_boundaries(frames, k, min_distance)
    ids = shot_ids([frame.timestamp_s for frame in frames], boundaries)
    best = {}
    for shot, (timestamp, image) in zip(ids.tolist(), frames):
        cropped = letterbox_crop(image)
        if is_black(cropped) or looks_like_text_card(image):
            continue
        score = sharpness(cropped)
        if shot not in best or score > best[shot][1]:
            best[shot] = (timestamp, score)
    return best, boundaries


# --------------------------------------------------------------------------------------------
# Real clips


@pytest.mark.parametrize("clip, shot_count", [("face_noface.mov", 2), ("WolfgangLanger_Pexels.mp4", 1)])
def test_one_sharpest_eligible_frame_per_shot_of_a_real_clip(media, clip, shot_count):
    shots = representative_frames(media / clip)
    expected, boundaries = direct_choice(media / clip)
    assert len(boundaries) + 1 == shot_count
    assert all(isinstance(shot, ShotFrame) for shot in shots)
    assert [shot.shot for shot in shots] == sorted({shot.shot for shot in shots})  # time order, one each
    assert [shot.timestamp for shot in shots] == sorted(shot.timestamp for shot in shots)
    assert len(shots) == shot_count  # every shot of these clips has good frames
    starts = [0.0, *boundaries]
    for shot in shots:
        assert shot.shot_start == pytest.approx(starts[shot.shot])
        assert shot.shot_start <= shot.timestamp < shot.shot_end
        assert not is_black(shot.image) and shot.brightness > 40
        assert not looks_like_text_card(shot.image)
        assert shot.image.dtype == np.uint8 and shot.image.ndim == 3 and max(shot.image.shape[:2]) <= 480
        # The chosen frame is the sharpest eligible one of its shot, and its measures are its image's.
        assert shot.timestamp == pytest.approx(expected[shot.shot][0], abs=1e-6)
        assert shot.sharpness == pytest.approx(expected[shot.shot][1], rel=1e-9)
        assert shot.sharpness == pytest.approx(sharpness(shot.image), rel=1e-9)
        assert shot.brightness == pytest.approx(brightness(shot.image))
    assert shots[-1].shot_end == pytest.approx(6.4 if clip == "face_noface.mov" else 19.7, abs=0.15)


@pytest.mark.parametrize("k, min_distance", [(1.0, 0.05), (0.5, 0.0)])
def test_keeping_one_candidate_per_segment_chooses_as_a_full_comparison_would(media, k, min_distance):
    # A low floor makes many frames possible cut points, so shots are unions of many segments.
    path = media / "face_noface.mov"
    shots = representative_frames(path, k=k, min_distance=min_distance)
    expected, boundaries = direct_choice(path, k, min_distance)
    assert len(boundaries) >= 2
    assert {shot.shot: shot.timestamp for shot in shots} == pytest.approx({s: t for s, (t, _) in expected.items()})


# --------------------------------------------------------------------------------------------
# Synthetic trailer: a colourful shot, a black shot, a title card, another colourful shot


@pytest.fixture(scope="module")
def pictures(media):
    multi = cv2.imread(str(media / "multi_face.jpg"))
    first = next(iter(sample_frames(media / "bigbuckbunny_5s_720p.mp4", rate=1.0, max_side=480))).image_bgr
    return multi, first


def synthetic_trailer(path, pictures, card_background):
    n = 2 * FPS  # 2 s shots: cuts at 2, 4 and 6 s
    people, bunny = pictures
    shots = [
        panning_shot(people, n, lambda i: 3.0 * (1 - i / (n - 1))),  # sharpest at its end
        [np.zeros((H, W, 3), np.uint8)] * n,
        [title_card(background=card_background)] * n,
        panning_shot(bunny, n, lambda i: 3.0 * i / (n - 1)),  # sharpest at its start
    ]
    return write_cv2_video(path, [image for shot in shots for image in shot])


def test_black_and_title_shots_give_no_frame(tmp_path, pictures):
    # The card is white text on charcoal (grey 40): on pure black see the next test.
    path = synthetic_trailer(tmp_path / "trailer.mp4", pictures, card_background=40)
    assert shot_boundaries(sample_frames(path, rate=2.0)) == pytest.approx([2.0, 4.0, 6.0], abs=1e-3)
    shots = representative_frames(path)
    assert [shot.shot for shot in shots] == [0, 3]
    assert [shot.shot_start for shot in shots] == pytest.approx([0.0, 6.0], abs=1e-3)
    assert [shot.shot_end for shot in shots] == pytest.approx([2.0, 8.0], abs=0.15)
    # Samples every 0.5 s: the sharpest of the first shot is its last (1.5 s), of the last its first.
    assert [shot.timestamp for shot in shots] == pytest.approx([1.5, 6.0], abs=1e-3)
    assert all(shot.text_score < 0.1 for shot in shots)

    table = frames_table(shots)
    assert list(table.columns) == ["shot", "timestamp", "shot_start", "shot_end", "sharpness", "brightness",
                                   "text_score", "width", "height"]
    assert table["shot"].tolist() == [0, 3] and table[["width", "height"]].values.tolist() == [[W, H], [W, H]]
    assert all(pd.api.types.is_numeric_dtype(dtype) for dtype in table.dtypes)
    table.to_parquet(tmp_path / "frames.parquet")  # storable as is

    paths = save_thumbnails(shots, tmp_path / "thumbs")
    assert [p.name for p in paths] == ["shot_000.jpg", "shot_003.jpg"]
    assert sorted(p.name for p in (tmp_path / "thumbs").iterdir()) == ["shot_000.jpg", "shot_003.jpg"]  # no temp files
    for path, shot in zip(paths, shots):
        written = cv2.imread(str(path))
        assert written.shape == shot.image.shape
        assert np.abs(written.astype(int) - shot.image).mean() < 4  # JPEG, close to the chosen frame


def test_a_title_card_on_pure_black_merges_with_a_black_shot(tmp_path, pictures):
    # Thin white text moves too little of the histogram (distance about 0.16, under the 0.3 floor)
    # for a cut from black to be found; the merged shot still gives no frame.
    path = synthetic_trailer(tmp_path / "trailer.mp4", pictures, card_background=0)
    assert shot_boundaries(sample_frames(path, rate=2.0)) == pytest.approx([2.0, 6.0], abs=1e-3)
    shots = representative_frames(path)
    assert [shot.shot for shot in shots] == [0, 2]
    assert [shot.timestamp for shot in shots] == pytest.approx([1.5, 6.0], abs=1e-3)


def test_a_clip_of_only_black_and_text_gives_nothing(tmp_path):
    images = [np.zeros((H, W, 3), np.uint8)] * FPS + [title_card("DIRECTED BY", 40)] * FPS
    shots = representative_frames(write_cv2_video(tmp_path / "dark.mp4", images))
    assert shots == []
    assert frames_table(shots).empty and list(frames_table(shots).columns)[:2] == ["shot", "timestamp"]
    assert save_thumbnails(shots, tmp_path / "thumbs") == []


def test_letterboxed_video_gives_cropped_frames(tmp_path, pictures):
    people, _ = pictures
    shot = panning_shot(people, FPS, lambda i: 0)
    images = [np.pad(image, ((30, 30), (0, 0), (0, 0))) for image in shot]  # 320x240 with 30-row bars
    (chosen,) = representative_frames(write_cv2_video(tmp_path / "scope.mp4", images))
    height, width = chosen.image.shape[:2]
    assert width == W and abs(height - H) <= 4


def test_an_unreadable_file_raises_trailer_input_error(tmp_path):
    fake = tmp_path / "not_a_video.mp4"
    fake.write_text("this is a text file, not a trailer\n" * 20)
    with pytest.raises(VideoInputError, match="not_a_video.mp4"):
        representative_frames(fake)


# --------------------------------------------------------------------------------------------
# Frame measures


@pytest.mark.parametrize("card", [
    title_card(),
    title_card("DIRECTED BY JOHN SMITH", scale=0.5, thickness=1),
    title_card("Coming soon", background=255, colour=(0, 0, 0)),
    title_card("RED", scale=3, thickness=6, colour=(0, 0, 255)),
    title_card("BOLD", size=(1920, 1080), scale=8, thickness=24),
    title_card("Once upon a time", background=30, scale=1, font=cv2.FONT_HERSHEY_SCRIPT_COMPLEX),
], ids=["white-on-black", "small-credits", "black-on-white", "red", "bold-1080p", "script"])
def test_text_cards_are_detected(card):
    assert looks_like_text_card(card)
    assert 0.5 <= text_score(card) <= 1.0


@pytest.mark.parametrize("name", ["single_face.jpg", "solvay_conference_1927.jpg", "multi_face.jpg", "newton.png"])
def test_photos_are_not_text_cards(media, name):
    image = cv2.imread(str(media / name))
    assert not looks_like_text_card(image)
    assert text_score(image) < 0.2


def test_mostly_dark_frames_without_text_are_not_cards():
    rng = np.random.default_rng(0)
    night = np.clip(rng.normal(10, 4, (270, 480, 3)), 0, 255).astype(np.uint8)
    lamp = cv2.circle(night.copy(), (200, 100), 20, (200, 220, 255), -1)  # a blob, not strokes
    face = cv2.ellipse(night.copy(), (200, 130), (40, 60), 0, 0, 360, (120, 150, 200), -1)
    stars = night.copy()
    for x, y in rng.integers(0, [480, 270], size=(80, 2)):
        cv2.circle(stars, (int(x), int(y)), 1, (255, 255, 255), -1)  # specks
    for image in (night, lamp, face, stars):
        assert text_score(image) < 0.2


def test_blurring_lowers_sharpness_and_resolution_does_not_change_it(media):
    image = cv2.imread(str(media / "single_face.jpg"))
    blurred = cv2.GaussianBlur(image, (0, 0), 3)
    assert sharpness(blurred) < 0.3 * sharpness(image)
    # Measured at a fixed working size: the same picture at another resolution scores about the same.
    doubled = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    assert sharpness(doubled) == pytest.approx(sharpness(image), rel=0.2)


def test_brightness_and_black_frames(media):
    assert brightness(np.zeros((10, 10, 3), np.uint8)) == 0
    assert brightness(np.full((10, 10, 3), 255, np.uint8)) == 255
    assert is_black(np.full((90, 160, 3), 5, np.uint8))
    assert not is_black(title_card(background=40))
    assert not is_black(cv2.imread(str(media / "single_face.jpg")))


def test_letterbox_crop_removes_added_bars(media):
    image = cv2.imread(str(media / "single_face.jpg"))  # 572x562
    letterboxed = np.pad(image, ((60, 60), (0, 0), (0, 0)))
    pillarboxed = np.pad(image, ((0, 0), (80, 80), (0, 0)))
    windowboxed = np.pad(image, ((40, 50), (30, 20), (0, 0)))
    for padded in (letterboxed, pillarboxed, windowboxed):
        cropped = letterbox_crop(padded)
        assert abs(cropped.shape[0] - image.shape[0]) <= 2 and abs(cropped.shape[1] - image.shape[1]) <= 2
    assert np.array_equal(letterbox_crop(letterboxed), image)
    assert np.array_equal(letterbox_crop(image), image)  # nothing to remove
    black = np.zeros((90, 160, 3), np.uint8)
    assert letterbox_crop(black).shape == black.shape  # all black: no bars, nothing cut
    dark_top = image.copy()
    dark_top[: image.shape[0] // 2] = 5  # a dark sky is not cut away whole
    assert letterbox_crop(dark_top).shape[0] >= 0.7 * image.shape[0]
