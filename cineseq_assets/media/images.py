"""Still images from a user (``cineseq classify``, the demo's Frames tab): decoded only when their
header's picture size is within a bound, and never half-decoded in silence.

A 1 MB PNG can declare 20000x20000 pixels and take 1.2 GB once decoded (3.6 GB in the classifier):
the size is read from the header (Pillow opens lazily) and checked before OpenCV decodes it. A JPEG
cut short decodes in OpenCV with only a libjpeg warning on stderr and grey below the cut; it is
refused like a truncated PNG, which OpenCV cannot decode at all.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import InputFileError

# 50 megapixels: above an 8K frame (33 MP) and most cameras; about 150 MB once decoded.
MAX_IMAGE_PIXELS = 50_000_000
_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"


def read_image(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """The image as BGR pixels; an ``InputFileError`` naming the file for one that is not an image,
    is too large or is cut short."""
    path = Path(path)
    width, height = _declared_size(path, max_pixels)
    if width * height > max_pixels:
        raise _too_large(path, f"{width}x{height} pixels", width * height, max_pixels)
    if _truncated_jpeg(path):
        raise InputFileError(path, "is a JPEG cut short (it has no end-of-image marker): only part of the picture "
                             "could be decoded", "Download or export the image again.")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputFileError(path, "is not a readable image (or it is cut short)", "pass a complete JPEG or PNG file")
    return image


def _too_large(path: Path, size: str, pixels: int, max_pixels: int) -> InputFileError:
    return InputFileError(path, f"is {size} ({pixels / 1e6:,.0f} megapixels); at most {max_pixels / 1e6:,.0f} "
                          "megapixels are decoded", "Downscale it (a frame of 1920x1080 is plenty for the classifier).")


def _declared_size(path: Path, max_pixels: int) -> tuple[int, int]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # reads the header only
                return image.size
    except Image.DecompressionBombError as error:  # Pillow's own bound (179 MP), above ours, names the pixels only
        pixels = re.search(r"\((\d+) pixels\)", str(error))
        raise _too_large(path, "too large to open", int(pixels[1]) if pixels else 0, max_pixels) from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise InputFileError(path, "is not a readable image", "pass a JPEG or PNG file") from error


def _truncated_jpeg(path: Path) -> bool:
    """A JPEG ends with the end-of-image marker (some writers pad after it with zeros or a newline)."""
    with path.open("rb") as stream:
        if stream.read(2) != _JPEG_START:
            return False
        stream.seek(max(0, path.stat().st_size - 64))
        return _JPEG_END not in stream.read()
