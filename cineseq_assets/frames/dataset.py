"""The labelled images: posters and trailer frames, their budgets, and splits by film.

Two real sets (see their SOURCE.md; research-only, read from the shared data folder, never copied
into the repository): 4,465 IMDb posters, one per film, and 620 trailer frames of 10 films. Budgets
come from the bundled metadata table (The Numbers and TMDB 5000): by TMDB id where the image has
one, else by normalized title and year (+-1). Splits are by film, stratified by decade; the trailer
frames are never trained on: they measure the poster-to-trailer gap.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..boxoffice.metadata import NUMBERS, TMDB, metadata_table, normalize_title
from ..errors import CineSeqError
from ..processes import available_threads
from ..splitting import assign_groups
from .labels import budget_class, split_genres
from .representative import letterbox_crop

POSTERS = "posters_imdb_abilpandoli"
TRAILER_FRAMES = "trailer_frames_zeevzu"
# TMDB budgets below this are data-entry errors (e.g. 7 for $7M), not real budgets. The Numbers is
# curated and has real micro-budgets (Primer, $7,000), so the floor applies to TMDB only.
MIN_TMDB_BUDGET = 1_000
SPLITS = ("train", "val", "test")


class ImageSetError(CineSeqError):
    """A labelled image set that is missing or malformed; the message names the file and the fix."""


def image_sets_dir(shared: str | Path) -> Path:
    return Path(shared) / "data" / "images"


def read_image_set(folder: str | Path) -> pd.DataFrame:
    """One labelled set (labels.csv + jpg/) as the training table: path, film, title, year, decade,
    genres (list), source, and tmdb_id where the set has it."""
    folder = Path(folder)
    labels = folder / "labels.csv"
    if not labels.exists():
        raise ImageSetError(f"{labels} not found: the image set needs its labels.csv (see the set's SOURCE.md).")
    table = pd.read_csv(labels, dtype={"imdb_id": str})
    missing = {"file", "imdb_id", "title", "year", "genres", "image_type"} - set(table.columns)
    if missing:
        raise ImageSetError(f"{labels}: missing column(s) {', '.join(sorted(missing))}.")
    out = pd.DataFrame({
        "path": [str(folder / f) for f in table["file"]],
        "film": table["imdb_id"],
        "title": table["title"],
        "year": table["year"].astype(int),
        "genres": table["genres"].map(split_genres),
        "source": table["image_type"],
        "tmdb_id": pd.to_numeric(table.get("tmdb_id"), errors="coerce").astype("Int64") if "tmdb_id" in table else pd.NA,
    })
    out["decade"] = out["year"] // 10 * 10
    return out


@dataclass(frozen=True)
class LabelledImages:
    """``posters``: the set that is split into train/val/test by film; ``trailer_frames``: a second,
    never-trained test set (may be empty); ``label_set``: fixed genres (else the training films' top 10)."""

    posters: pd.DataFrame
    trailer_frames: pd.DataFrame
    budget_report: dict
    label_set: tuple[str, ...] | None = None


def load_labelled_images(shared: str | Path) -> LabelledImages:
    """Both sets with budgets attached (see ``attach_budgets``)."""
    root = image_sets_dir(shared)
    posters, poster_report = attach_budgets(read_image_set(root / POSTERS))
    frames, frame_report = attach_budgets(read_image_set(root / TRAILER_FRAMES))
    return LabelledImages(posters, frames, {"posters": poster_report, "trailer_frames": frame_report})


def load_label_folder(folder: str | Path) -> tuple[LabelledImages, list[str]]:
    """A bits-in-file-name folder (labels.import_folder) as the training set: one stratum (the names
    carry no year), no trailer test set, the folder's own genre bits as the label set."""
    from .labels import import_folder

    images, genres, warnings = import_folder(folder)
    images = images.assign(decade=0, title=images["film"], year=0)
    known = images.drop_duplicates("film")["budget_class"] >= 0
    report = {"films": int(len(known)), "films_with_budget": int(known.sum()),
              "join_rate": round(float(known.mean()), 4), "by_route": {"file_name_bits": int(known.sum())}}
    empty = images.iloc[0:0]
    return LabelledImages(images, empty, {"label_folder": report}, genres), warnings


# ------------------------------------------------------------------------------------- budgets


def attach_budgets(images: pd.DataFrame, metadata: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Add budget, budget_class and budget_route to each image, and report the join rate per film.

    Routes, first that gives a credible budget wins: TMDB by id; The Numbers by title and year;
    TMDB by title and year. The Numbers records production budgets for the US market; TMDB's are
    user-entered and sometimes in the wrong unit, hence the floor.
    """
    metadata = metadata_table() if metadata is None else metadata
    films = images.drop_duplicates("film")[["film", "title", "year", "tmdb_id"]].reset_index(drop=True)
    tmdb = metadata[(metadata["source"] == TMDB) & (metadata["budget"] >= MIN_TMDB_BUDGET)]
    numbers = metadata[(metadata["source"] == NUMBERS) & (metadata["budget"] > 0)]
    by_id = films["tmdb_id"].map(tmdb.dropna(subset=["tmdb_id"]).drop_duplicates("tmdb_id").set_index("tmdb_id")["budget"])
    routes = {
        "tmdb_id": by_id,
        "the_numbers_title_year": _title_year_budget(films, numbers),
        "tmdb_title_year": _title_year_budget(films, tmdb),
    }
    budget = pd.Series(np.nan, index=films.index)
    route = pd.Series(None, index=films.index, dtype=object)
    for name, found in routes.items():
        take = budget.isna() & found.notna()
        budget[take], route[take] = found[take], name
    per_film = pd.DataFrame({"film": films["film"], "budget": budget.astype(float), "budget_route": route})
    out = images.merge(per_film, on="film", how="left")
    out["budget_class"] = out["budget"].map(budget_class)
    report = {
        "films": int(len(films)),
        "films_with_budget": int(budget.notna().sum()),
        "join_rate": round(float(budget.notna().mean()), 4) if len(films) else 0.0,
        "by_route": {name: int((route == name).sum()) for name in routes},
        # Where TMDB (by id) and The Numbers (by title) both have the film: how often the classes agree.
        "class_agreement_tmdb_id_vs_the_numbers": _class_agreement(routes["tmdb_id"], routes["the_numbers_title_year"]),
    }
    return out, report


def _class_agreement(first: pd.Series, second: pd.Series) -> dict:
    both = first.notna() & second.notna()
    same = first[both].map(budget_class) == second[both].map(budget_class)
    return {"films": int(both.sum()), "same_class": round(float(same.mean()), 4) if both.any() else None}


def _title_year_budget(films: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """Budget of the row with the same normalized title and the nearest year within +-1, per film."""
    right = pd.DataFrame({"key": table["title"].map(normalize_title),
                          "other_year": pd.to_datetime(table["release_date"], errors="coerce").dt.year,
                          "budget": table["budget"]}).dropna()
    left = pd.DataFrame({"row": films.index, "key": films["title"].map(normalize_title), "year": films["year"]})
    pairs = left.merge(right[right["key"] != ""], on="key")
    pairs["gap"] = (pairs["other_year"] - pairs["year"]).abs()
    best = pairs[pairs["gap"] <= 1].sort_values(["row", "gap"], kind="stable").drop_duplicates("row")
    return best.set_index("row")["budget"].reindex(films.index)


# -------------------------------------------------------------------------------------- splits


def split_by_film(images: pd.DataFrame, val_fraction: float = 0.15, test_fraction: float = 0.15,
                  seed: int = 0) -> pd.Series:
    """Split name per image: every image of a film on one side; films stratified by decade, so each
    split spans the same years. Returns a Series aligned with ``images``."""
    films = images.drop_duplicates("film")
    assignment = assign_groups(dict(zip(films["film"], films["decade"])), {"test": test_fraction, "val": val_fraction},
                               seed=seed)
    return images["film"].map(assignment).rename("split")


# -------------------------------------------------------------------------------------- pixels


def square_crop(image: np.ndarray) -> np.ndarray:
    """The centred square of an image: the same framing for a portrait poster and a wide frame."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[top:top + side, left:left + side]


def to_model_pixels(image_bgr: np.ndarray, size: int) -> np.ndarray:
    """BGR image -> (size, size, 3) RGB uint8: letterbox bars removed, centred square, area-resized."""
    return _resized_rgb(square_crop(letterbox_crop(image_bgr)), size)


def _resized_rgb(square_bgr: np.ndarray, size: int) -> np.ndarray:
    return cv2.cvtColor(cv2.resize(square_bgr, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


def read_pixels(paths: list[str], size: int) -> np.ndarray:
    """(N, size, size, 3) RGB uint8 for image files; an unreadable file is an error naming it."""
    return read_pixels_sizes(paths, [size])[size]


def read_pixels_sizes(paths: list[str], sizes: list[int]) -> dict[int, np.ndarray]:
    """``read_pixels`` at several sizes, each file decoded once; the files are decoded on a thread per
    core (OpenCV releases the GIL while it decodes and resizes). Each size equals ``read_pixels`` alone."""
    out = {size: np.empty((len(paths), size, size, 3), dtype=np.uint8) for size in sizes}

    def load(i: int) -> None:
        image = cv2.imread(str(paths[i]), cv2.IMREAD_COLOR)
        if image is None:
            raise ImageSetError(f"{paths[i]}: not a readable image (JPEG/PNG expected). Replace or remove the file.")
        square = square_crop(letterbox_crop(image))
        for size in sizes:
            out[size][i] = _resized_rgb(square, size)

    with ThreadPoolExecutor(available_threads()) as pool:
        list(pool.map(load, range(len(paths))))  # list(): an error in any file is raised here
    return out
