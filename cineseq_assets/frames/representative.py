"""Representative frames of a trailer: one sharp, non-black, non-text frame per shot.

What it is for: a single-frame genre/budget classifier needs a few good stills per trailer,
not every sampled frame. The trailer is sampled once (`media.video.sample_frames`, frames
downscaled to `max_side`), split into shots by the colour-histogram change with the adaptive
threshold of `media.shots` (median + k * MAD of the changes, never below `min_distance`), and
in each shot the sharpest frame that is neither black nor a title/credit card is kept. A shot
made only of black or text frames gives no frame; a clip where no shot survives gives an empty
list (the caller decides what that means).

Memory: the boundaries are only known once every frame has been seen (the threshold depends on
all the changes), but it is never below `min_distance`, so a shot can only start at a frame
whose change exceeds `min_distance`. Those frames cut the clip into segments that each lie inside
one shot, and only the best eligible frame of a segment can win its shot. So one downscaled
image is kept per segment (the best so far), not per frame: in trailers the segments are the
cuts plus a few flashes. The bound in the worst case (every sample a possible cut, e.g. strobe
lights, or `min_distance=0`) is one image per sampled frame: frames x max_side x
max_side*9/16 x 3 bytes, 390 kB per frame at max_side=480 (a 150 s trailer at 2 frames per
second: 300 frames, 117 MB).

Quality measures work on a copy at a fixed working size (long side WORKING_SIDE), so that they
do not depend on the resolution of the file or of `max_side`:

- `sharpness`: variance of the Laplacian of the grey image. It grows with focus and with
  contrast, so among the frames of one shot it prefers the in-focus, full-contrast ones over
  motion-blurred frames and the ends of fades.
- `brightness`: mean luma (BT.601, 0-255); `is_black`: mean luma below a threshold.
- `text_score` / `looks_like_text_card`: see `text_score` for the rule and why.
- `letterbox_crop`: removes black bars so the classifier is not fed them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from cineseq_assets.media.shots import boundaries_from_changes, histogram_distance, hsv_histogram, shot_ids
from cineseq_assets.media.video import sample_frames
from cineseq_assets.storage import write_bytes_atomic

WORKING_SIDE = 320
"""Long side (pixels) of the copy that sharpness and the text-card test are measured on."""

BLACK_THRESHOLD = 12.0
"""Mean luma below which a frame counts as black (fades, black slugs between cuts)."""

LETTERBOX_THRESHOLD = 16.0
"""Mean luma below which an edge row or column counts as a black bar."""

LETTERBOX_MAX_FRACTION = 0.3
"""At most this share of the height (or width) is cut from each side: 2.39:1 in 16:9 has bars of
12.7 % each, 4:3 pillarboxed in 16:9 12.5 %; the cap keeps a dark sky from being cut away whole."""

# Text-card rule (see text_score).
_TEXT_BACKGROUND_TOLERANCE = 24  # grey levels around the background level that still count as background
_TEXT_STROKE_CONTRAST = 64  # a stroke pixel differs from the background by at least this much
_TEXT_FLAT_LOW, _TEXT_FLAT_HIGH = 0.70, 0.85  # background share: 0 below LOW, full weight from HIGH
_TEXT_CHROMA_LOW, _TEXT_CHROMA_HIGH = 20.0, 40.0  # background colourfulness: full weight to LOW, 0 from HIGH
_TEXT_MIN_INK = 0.002  # share of stroke pixels below which there is nothing to read
_TEXT_MAX_STROKE_RATIO = 0.5  # a character's strokes are at most this share of its height (a blob's: about 1)
_TEXT_MAX_GLYPH_HEIGHT = 0.35  # a character-like component is at most this share of the height
_TEXT_MAX_GLYPH_WIDTH = 0.5  # ... and of the width (a wire across the frame is no letter)
_TEXT_MIN_GLYPH_AREA = 6  # pixels (at the working size): smaller components are specks, not letters
TEXT_CARD_THRESHOLD = 0.5


@dataclass
class ShotFrame:
    """The frame chosen for one shot (times in seconds from the start of the video).

    `image` is BGR uint8, letterbox-cropped, at most `max_side` on its long side. The measures
    are `sharpness(image)`, `brightness(image)` and the text_score of the uncropped frame.
    """

    shot: int  # shot number in the clip, counting the shots that gave no frame
    timestamp: float
    shot_start: float
    shot_end: float
    sharpness: float
    brightness: float
    text_score: float
    image: np.ndarray


TABLE_COLUMNS = ["shot", "timestamp", "shot_start", "shot_end", "sharpness", "brightness", "text_score",
                 "width", "height"]


# --------------------------------------------------------------------------------------------
# Frame measures


def _grey(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _working(image: np.ndarray, side: int = WORKING_SIDE) -> np.ndarray:
    """The image with its long side at `side` (area interpolation down, linear up)."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale == 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image at the working size (higher is sharper)."""
    grey = _working(_grey(image))
    return float(cv2.Laplacian(grey, cv2.CV_64F, ksize=3).var())


def brightness(image: np.ndarray) -> float:
    """Mean luma, 0 (black) to 255 (white)."""
    return float(_grey(image).mean())


def is_black(image: np.ndarray, threshold: float = BLACK_THRESHOLD) -> bool:
    """Whether the frame is black or nearly so (mean luma below `threshold`)."""
    return brightness(image) < threshold


def colourfulness(image: np.ndarray) -> float:
    """Hasler and Suesstrunk's colourfulness (0 for grey pictures, about 15 slightly, 33 moderately,
    59 quite, 82 highly colourful), of a BGR image or of an (N, 3) array of BGR pixels."""
    pixels = np.asarray(image, dtype=np.float32).reshape(-1, 3)
    if len(pixels) == 0:
        return 0.0
    blue, green, red = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    rg, yb = red - green, 0.5 * (red + green) - blue
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def text_score(image: np.ndarray) -> float:
    """How much the frame looks like a title or credit card, 0 to 1 (see looks_like_text_card).

    The rule, on a copy at the working size:
    1. the background level is the median grey; background pixels are within 24 levels of it;
       a title card is mostly background: weight 0 below 70 % of the pixels, 1 from 85 %;
    2. the background is neutral (black, grey, white): weight 1 up to a colourfulness of 20,
       0 from 40 (a blue sky or a coloured wall with a few thin lines is not a card);
    3. the "ink" (pixels at least 64 levels from the background: high contrast) covers at least
       0.2 % of the picture, and the score's base is the share of the ink that lies in
       character-like connected components: at most 35 % of the picture's height and 50 % of its
       width, at least 6 pixels, and with strokes at most half as wide as the component is tall
       (stroke width = twice the component's largest distance-transform value). A letter's
       strokes are 10-25 % of its height; a blob (a lamp, a lit face, the moon) is about as wide
       as it is tall.
    score = glyph share x weight 1 x weight 2.

    Why this rule (measured on the shared media, at the working size): the share of pixels within
    24 levels of the median is 0.14-0.50 for the photos and face crops, at most 0.64 on any
    sampled frame of the five clips, but 0.78-0.81 for the two painted portraits on plain
    backgrounds (newton.png, gauss.png), so flatness alone is not enough; their detail is
    low-contrast shading and blobs, which condition 3 rejects (scores 0.09 and 0.01). Cards made
    with cv2.putText (white on black, black on white, red, script, small credits, bold 1080p
    titles with strokes up to 7 % of the frame height) score 0.98-1.0, every photo and clip frame at most
    0.1. Stroke width is judged against each component's own height rather than against the
    frame, so thin credits and heavy titles pass alike. It needs no model and takes 2-3 ms on a
    480-pixel frame. Its blind spots: text over a picture (not a card, and kept, as a still that
    shows the film should be), text smaller than 0.2 % of the picture in ink (a lone small word:
    usually black enough for is_black), cards on a saturated background (a red card fails
    condition 2), and short thin dark lines on a flat grey background (bare twigs against an
    overcast sky), which can look like letters. Wires across the whole frame are too wide to be.
    """
    work = _working(np.asarray(image))
    grey = _grey(work)
    level = float(np.median(grey))
    difference = np.abs(grey.astype(np.int16) - int(round(level)))
    background = difference <= _TEXT_BACKGROUND_TOLERANCE
    flat_weight = _ramp(float(background.mean()), _TEXT_FLAT_LOW, _TEXT_FLAT_HIGH)
    if flat_weight == 0:
        return 0.0
    chroma = colourfulness(work[background]) if work.ndim == 3 else 0.0
    chroma_weight = 1.0 - _ramp(chroma, _TEXT_CHROMA_LOW, _TEXT_CHROMA_HIGH)
    if chroma_weight == 0:
        return 0.0
    ink = (difference >= _TEXT_STROKE_CONTRAST).astype(np.uint8)
    ink_count = int(ink.sum())
    if ink_count < _TEXT_MIN_INK * ink.size:
        return 0.0
    height, width = grey.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    # Half the stroke width of each component: its largest distance from the background.
    half_width = np.zeros(count, np.float32)
    np.maximum.at(half_width, labels.ravel(), cv2.distanceTransform(ink, cv2.DIST_L2, 5).ravel())
    tall, wide = stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_WIDTH]
    glyph = (tall <= _TEXT_MAX_GLYPH_HEIGHT * height) & (wide <= _TEXT_MAX_GLYPH_WIDTH * width) & \
            (stats[:, cv2.CC_STAT_AREA] >= _TEXT_MIN_GLYPH_AREA) & (2 * half_width <= _TEXT_MAX_STROKE_RATIO * tall)
    glyph[0] = False  # label 0 is the background
    stroke_share = float(stats[glyph, cv2.CC_STAT_AREA].sum()) / ink_count
    return stroke_share * flat_weight * chroma_weight


def looks_like_text_card(image: np.ndarray, threshold: float = TEXT_CARD_THRESHOLD) -> bool:
    """Whether the frame is a title or credit card: text_score at least `threshold`."""
    return text_score(image) >= threshold


def _ramp(value: float, low: float, high: float) -> float:
    """0 at or below low, 1 at or above high, linear between."""
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def letterbox_bounds(image: np.ndarray, threshold: float = LETTERBOX_THRESHOLD,
                     max_fraction: float = LETTERBOX_MAX_FRACTION) -> tuple[int, int, int, int]:
    """(top, bottom, left, right): the picture without its black bars is image[top:bottom, left:right].

    A bar is a run of edge rows (columns) whose mean luma is below `threshold`; at most
    `max_fraction` of the height (width) is cut from each side. A picture that is black all over
    has no bars (its full bounds).
    """
    grey = _grey(image).astype(np.float32)
    height, width = grey.shape
    rows, columns = grey.mean(axis=1), grey.mean(axis=0)
    if rows.max() < threshold:
        return 0, height, 0, width
    top, bottom = _dark_run(rows, threshold, max_fraction)
    left, right = _dark_run(columns, threshold, max_fraction)
    return top, height - bottom, left, width - right


def _dark_run(means: np.ndarray, threshold: float, max_fraction: float) -> tuple[int, int]:
    """Lengths of the runs of dark values at the start and at the end, each capped."""
    cap = int(max_fraction * len(means))
    dark = means < threshold
    start = len(dark) if dark.all() else int(np.argmin(dark))
    end = len(dark) if dark.all() else int(np.argmin(dark[::-1]))
    return min(start, cap), min(end, cap)


def letterbox_crop(image: np.ndarray, threshold: float = LETTERBOX_THRESHOLD,
                   max_fraction: float = LETTERBOX_MAX_FRACTION) -> np.ndarray:
    """The image without its black bars (a view; see letterbox_bounds)."""
    top, bottom, left, right = letterbox_bounds(image, threshold, max_fraction)
    return image[top:bottom, left:right]


# --------------------------------------------------------------------------------------------
# Representative frames


@dataclass
class _Candidate:
    timestamp: float
    sharpness: float
    brightness: float
    text_score: float
    image: np.ndarray


def representative_frames(path: str | os.PathLike, rate: float = 2.0, max_side: int = 480, k: float = 4.0,
                          min_distance: float = 0.3, min_brightness: float = BLACK_THRESHOLD,
                          text_threshold: float = TEXT_CARD_THRESHOLD, *, strict: bool = False) -> list[ShotFrame]:
    """One frame per shot: the sharpest frame that is not black and not a text card.

    `rate` (frames per second) and `max_side` go to `sample_frames`; `k` and `min_distance` to
    the shot-boundary rule (`boundaries_from_changes`); a frame is black below `min_brightness`
    mean luma and a text card from `text_threshold` text_score. Shots whose frames are all black
    or text give nothing; the list is empty when no shot survives. The file's problems raise
    VideoInputError (`strict=True`: also a file that breaks off mid-stream, else the frames
    read before the break are used). The memory held is described in the module doc.
    """
    sampler = sample_frames(path, rate, max_side, strict=strict)
    timestamps: list[float] = []
    distances: list[float] = []
    segment_starts: list[float] = []  # timestamps of the frames that may start a shot
    best: list[_Candidate | None] = []  # best eligible frame of each segment so far
    previous = None
    for timestamp, frame in sampler:
        histogram = hsv_histogram(frame)
        change, previous = histogram_distance(previous, histogram), histogram
        timestamps.append(timestamp)
        distances.append(change)
        if not segment_starts or change > min_distance:  # same test as the threshold's floor
            segment_starts.append(timestamp)
            best.append(None)
        candidate = _measure(timestamp, frame, min_brightness, text_threshold)
        if candidate is not None and (best[-1] is None or candidate.sharpness > best[-1].sharpness):
            best[-1] = candidate
    if not timestamps:
        return []

    boundaries = boundaries_from_changes(timestamps, distances, k, min_distance)
    # The last shot ends with the video (or one sampling step after its last sample, for a
    # duration the container understates).
    duration = sampler.info.duration_s
    starts = [0.0, *boundaries]
    ends = [*boundaries, duration if duration > timestamps[-1] else timestamps[-1] + 1.0 / rate]
    winners: dict[int, _Candidate] = {}
    for shot, candidate in zip(shot_ids(segment_starts, boundaries).tolist(), best):
        if candidate is not None and (shot not in winners or candidate.sharpness > winners[shot].sharpness):
            winners[shot] = candidate
    return [
        ShotFrame(shot=shot, timestamp=c.timestamp, shot_start=starts[shot], shot_end=ends[shot],
                  sharpness=c.sharpness, brightness=c.brightness, text_score=c.text_score, image=c.image)
        for shot, c in sorted(winners.items())
    ]


def _measure(timestamp: float, frame: np.ndarray, min_brightness: float, text_threshold: float) -> _Candidate | None:
    """The frame's measures, or None when it is black or a text card.

    Black and sharpness are judged on the cropped picture (bars would darken and flatten it),
    text on the whole frame (a card's black margins would be taken for bars and cut away).
    """
    image = np.ascontiguousarray(letterbox_crop(frame))  # a copy: the full frame is not kept
    level = brightness(image)
    if level < min_brightness:  # is_black(image, min_brightness)
        return None
    score = text_score(frame)
    if score >= text_threshold:
        return None
    return _Candidate(timestamp, sharpness(image), level, score, image)


def frames_table(shots: Iterable[ShotFrame]) -> pd.DataFrame:
    """One row per chosen frame with the numeric fields (no image), plus the image's width and
    height, for storage as Parquet."""
    names = [f.name for f in fields(ShotFrame) if f.name != "image"]
    rows = [{**{name: getattr(s, name) for name in names},
             "width": int(s.image.shape[1]), "height": int(s.image.shape[0])} for s in shots]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.astype({"shot": "int64", "width": "int64", "height": "int64", "timestamp": "float64",
                         "shot_start": "float64", "shot_end": "float64", "sharpness": "float64",
                         "brightness": "float64", "text_score": "float64"})


def thumbnail_jpegs(shots: Sequence[ShotFrame], quality: int = 90) -> dict[str, bytes]:
    """Each chosen frame as JPEG bytes, by its file name ``shot_{shot:03d}.jpg``."""
    jpegs = {}
    for shot in shots:
        ok, encoded = cv2.imencode(".jpg", shot.image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise ValueError(f"shot {shot.shot}: its image could not be encoded as JPEG (shape {shot.image.shape})")
        jpegs[f"shot_{shot.shot:03d}.jpg"] = encoded.tobytes()
    return jpegs


def write_jpegs(jpegs: dict[str, bytes], folder: str | os.PathLike) -> list[Path]:
    """``thumbnail_jpegs`` written into ``folder`` (atomic writes); returns the paths."""
    return [write_bytes_atomic(data, Path(folder) / name) for name, data in jpegs.items()]


def save_thumbnails(shots: Sequence[ShotFrame], folder: str | os.PathLike, quality: int = 90) -> list[Path]:
    """Write each chosen frame as `folder/shot_{shot:03d}.jpg` (atomic writes); returns the paths."""
    return write_jpegs(thumbnail_jpegs(shots, quality), folder)
