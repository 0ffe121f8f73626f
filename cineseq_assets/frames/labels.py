"""Labels of the frame classifier: the genre set, the budget classes, and the bits-in-file-name folder.

Genres are multi-label: a film has up to three IMDb genres; the classifier predicts the 10 most
frequent genres of its *training* films (so the label set is learned without looking at test films,
and stored with the model). Budget is one of five production-budget classes.

Earlier work on this question stored its images in one folder with the labels in the file names:
10 genre bits, 5 budget bits (one-hot), then an index, e.g. ``1000100000_00010_0042.jpg`` (Drama and
Crime, $25-50M, image 42 in the export's genre order). ``export_folder`` writes that convention
and ``import_folder`` reads it, so such a folder can be trained on directly. Two sidecar files keep
what the names cannot: ``labels.json`` (the genre names in bit order, the budget classes) and
``films.csv`` (index -> film), without which a split by film is impossible.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..contracts import BUDGET_CLASSES, FRAME_GENRES
from ..errors import CineSeqError

N_GENRES = 10
# Upper bounds in dollars, production budget; the last class is open-ended. The class names
# (BUDGET_CLASSES) and the default genre set are the forecaster's contract (contracts.py).
BUDGET_EDGES = (1e6, 10e6, 25e6, 50e6)
UNKNOWN_BUDGET = -1  # class index of an image whose film has no known budget (ignored by the budget loss)

# The default genre bits of a folder without labels.json (contracts.FRAME_GENRES).
DEFAULT_GENRES = FRAME_GENRES

LABELS_FILE, FILMS_FILE = "labels.json", "films.csv"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_NAME = re.compile(r"^(?P<genres>[01]{10})[_-]?(?P<budget>[01]{5})[_-]?(?P<index>\d+)$")


class LabelFolderError(CineSeqError):
    """A folder in the bits-in-file-name convention that cannot be read; names the file and the fix."""


def budget_class(budget: float | None) -> int:
    """Class index of a production budget in dollars; UNKNOWN_BUDGET when missing or not positive."""
    if budget is None or not np.isfinite(budget) or budget <= 0:
        return UNKNOWN_BUDGET
    return int(np.searchsorted(BUDGET_EDGES, budget, side="right"))


def split_genres(text: object) -> list[str]:
    """'Drama|Romance' -> ['Drama', 'Romance']; missing -> []."""
    return [g.strip() for g in text.split("|") if g.strip()] if isinstance(text, str) else []


def top_genres(genre_lists: Iterable[Sequence[str]], n: int = N_GENRES) -> tuple[str, ...]:
    """The n most frequent genres, most frequent first; ties broken by name so the set is stable."""
    counts = Counter(g for genres in genre_lists for g in genres)
    return tuple(sorted(counts, key=lambda g: (-counts[g], g))[:n])


def genre_matrix(genre_lists: Iterable[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    """(n_images, len(labels)) 0/1 float32 matrix; genres outside the label set are dropped."""
    position = {g: i for i, g in enumerate(labels)}
    rows = list(genre_lists)
    matrix = np.zeros((len(rows), len(labels)), dtype=np.float32)
    for r, genres in enumerate(rows):
        for g in genres:
            if g in position:
                matrix[r, position[g]] = 1.0
    return matrix


# ------------------------------------------------------------------------------ file-name bits


def encode_name(genre_bits: Sequence[int], budget: int, index: int, suffix: str = ".jpg") -> str:
    """'1000100000_00010_0042.jpg': genre bits in label order, one-hot budget (all zero: unknown)."""
    if len(genre_bits) != N_GENRES:
        raise ValueError(f"{len(genre_bits)} genre bits; the convention has exactly {N_GENRES}")
    budget_bits = ["0"] * len(BUDGET_CLASSES)
    if budget != UNKNOWN_BUDGET:
        budget_bits[budget] = "1"
    genres = "".join("1" if bit else "0" for bit in genre_bits)
    return f"{genres}_{''.join(budget_bits)}_{index:04d}{suffix}"


def decode_name(name: str) -> tuple[np.ndarray, int, int]:
    """(genre bits as float32, budget class or UNKNOWN_BUDGET, index) from a file name."""
    stem = Path(name).stem
    match = _NAME.match(stem)
    if match is None:
        raise LabelFolderError(
            f"{name}: the file name does not carry labels as <10 genre bits>_<5 budget bits>_<index> "
            "(e.g. 1000100000_00010_0042.jpg). Rename it, or move it out of the folder.")
    budget_bits = match["budget"]
    if budget_bits.count("1") > 1:
        raise LabelFolderError(f"{name}: {budget_bits.count('1')} budget bits are set; at most one budget class "
                               "(one-hot) may be, or none for an unknown budget.")
    genres = np.array([float(c) for c in match["genres"]], dtype=np.float32)
    budget = budget_bits.index("1") if "1" in budget_bits else UNKNOWN_BUDGET
    return genres, budget, int(match["index"])


def export_folder(images: pd.DataFrame, genres: Sequence[str], folder: str | Path) -> Path:
    """Copy ``images`` (columns path, film, genres (list), budget_class) into ``folder`` under names that
    carry their labels, with labels.json and films.csv beside them. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bits = genre_matrix(images["genres"], genres)
    rows = []
    for index, (row, genre_bits) in enumerate(zip(images.itertuples(index=False), bits)):
        name = encode_name(genre_bits.astype(int), int(row.budget_class), index, Path(row.path).suffix.lower())
        shutil.copyfile(row.path, folder / name)
        rows.append({"index": index, "file": name, "film": row.film})
    pd.DataFrame(rows).to_csv(folder / FILMS_FILE, index=False)
    (folder / LABELS_FILE).write_text(json.dumps({"genres": list(genres), "budget_classes": list(BUDGET_CLASSES)}, indent=2))
    return folder


def import_folder(folder: str | Path) -> tuple[pd.DataFrame, tuple[str, ...], list[str]]:
    """Read a bits-in-file-name folder: (images, genre names, warnings).

    ``images`` has the columns the training code uses (path, film, genres, budget_class, source).
    Without films.csv every image counts as its own film, and a warning says that a split by film
    then cannot be guaranteed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise LabelFolderError(f"{folder}: not a folder. Pass a folder of images named <genre bits>_<budget bits>_<index>.jpg.")
    genres, warnings = _folder_genres(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise LabelFolderError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder.")
    films = _folder_films(folder, warnings)
    rows = []
    for path in files:
        bits, budget, index = decode_name(path.name)
        rows.append({"path": str(path), "film": films.get(index, f"image-{index}"),
                     "genres": [g for g, bit in zip(genres, bits) if bit], "budget_class": budget,
                     "source": "folder", "index": index})
    table = pd.DataFrame(rows).sort_values("index", ignore_index=True)
    duplicated = table["index"][table["index"].duplicated()]
    if len(duplicated):
        raise LabelFolderError(f"{folder}: index {int(duplicated.iloc[0])} is used by more than one file; "
                               "each index must be unique.")
    return table, genres, warnings


def _folder_genres(folder: Path) -> tuple[tuple[str, ...], list[str]]:
    labels = folder / LABELS_FILE
    if not labels.exists():
        return DEFAULT_GENRES, [f"{folder}: no {LABELS_FILE}; the genre bits are read as {', '.join(DEFAULT_GENRES)}."]
    try:
        genres = tuple(json.loads(labels.read_text())["genres"])
    except (ValueError, KeyError, TypeError) as error:
        raise LabelFolderError(f"{labels}: not readable ({error}); "
                               f"it must be JSON with a 'genres' list of {N_GENRES} names.") from error
    if len(genres) != N_GENRES:
        raise LabelFolderError(f"{labels}: {len(genres)} genres listed; the file names carry exactly {N_GENRES} genre bits.")
    return genres, []


def _folder_films(folder: Path, warnings: list[str]) -> dict[int, str]:
    films = folder / FILMS_FILE
    if not films.exists():
        warnings.append(f"{folder}: no {FILMS_FILE}, so each image counts as its own film; frames of one film may "
                        "land on both sides of a split. Add films.csv (index, film) to split by film.")
        return {}
    table = pd.read_csv(films, dtype={"film": str})
    if not {"index", "film"} <= set(table.columns):
        raise LabelFolderError(f"{films}: needs the columns index and film; found {', '.join(table.columns)}.")
    return dict(zip(table["index"].astype(int), table["film"]))
