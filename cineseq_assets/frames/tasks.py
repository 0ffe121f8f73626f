"""The per-film tasks of the frame assets, as the Dask workers run them (dask_engine.fan_out).

A worker computes and returns; the asset's process writes (the thumbnails through ``write_thumbnails``,
the tables through the IO manager), so that storage keeps one owner. The trailer videos, the thumbnails
and the classifier's files must be at the same path on every worker (dask_engine's rule).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import cv2
import numpy as np
import pandas as pd

from ..dask_engine import require_input
from . import plots
from .representative import frames_table, thumbnail_jpegs, write_jpegs
from .representative import representative_frames as choose_frames


@dataclass
class FilmFrames:
    """One film's representative frames: its table (``thumbnail`` filled in when they are written), the
    JPEG of each frame by file name, the contact sheet when asked for, and a warning for the log."""

    table: pd.DataFrame
    jpegs: dict[str, bytes] = field(default_factory=dict)
    sheet: bytes | None = None
    message: str = ""


def no_frame_row(film_id: str, has_trailer: int) -> pd.DataFrame:
    """No trailer, or one whose every shot is black or a text card: one row, no frame."""
    return pd.DataFrame([{"film_id": film_id, "has_trailer": has_trailer, "shot": np.nan, "timestamp": np.nan,
                          "thumbnail": None}])


@dataclass
class RepresentativeFramesTask:
    """``representative_frames`` of one film: film -> FilmFrames."""

    trailers: dict[str, str]  # film -> its trailer (films without one are not listed)
    arguments: dict  # of frames.representative.representative_frames
    contact_sheets: bool = False  # drawn for a run of one film, which the UI shows

    def __call__(self, film_id: str) -> FilmFrames:
        if film_id not in self.trailers:
            return FilmFrames(no_frame_row(film_id, has_trailer=0))
        path = require_input(self.trailers[film_id], film_id, "the trailer")
        shots = choose_frames(path, **self.arguments)
        if not shots:
            return FilmFrames(no_frame_row(film_id, has_trailer=1),
                              message=f"every shot of {path.name} is black or a text card; no frame kept")
        jpegs = thumbnail_jpegs(shots)
        sheet = (plots.contact_sheet([s.image for s in shots], [s.timestamp for s in shots], film_id)
                 if self.contact_sheets else None)
        return FilmFrames(frames_table(shots).assign(film_id=film_id, has_trailer=1, thumbnail=list(jpegs)), jpegs, sheet,
                          message=f"{len(shots)} representative frames from {path.name}")


def write_thumbnails(frames: FilmFrames, folder: str | os.PathLike) -> pd.DataFrame:
    """Write the film's JPEGs into ``folder`` (atomic writes); its table with their paths."""
    paths = dict(zip(frames.jpegs, map(str, write_jpegs(frames.jpegs, folder))))
    if not paths:
        return frames.table
    return frames.table.assign(thumbnail=frames.table["thumbnail"].map(paths))


@dataclass
class FramePredictionTask:
    """``frame_predictions`` of one film from its stored thumbnails: film -> (row, chart PNG or None). The
    serving classifier is loaded once per worker from ``storage`` (a path every worker reads)."""

    storage: str
    thumbnails: dict[str, list[str]]  # film -> its thumbnail files (films without frames are not listed)
    charts: bool = False  # drawn for a run of one film, which the UI shows
    _classifier: object | None = field(default=None, init=False, repr=False)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_classifier": None}  # each worker loads its own

    def __call__(self, film_id: str) -> tuple[pd.DataFrame, bytes | None]:
        from .classifier import film_row, load_serving

        if self._classifier is None:
            self._classifier = load_serving(self.storage)
        paths = [require_input(p, film_id, "a representative frame") for p in self.thumbnails.get(film_id, [])]
        images = [image for image in (cv2.imread(str(p)) for p in paths) if image is not None]
        row = film_row(self._classifier, film_id, images)
        chart = None
        if images and self.charts:
            genres = {k.removeprefix("frame_genre_"): v for k, v in row.items() if k.startswith("frame_genre_")}
            budget = {k.removeprefix("frame_budget_"): v for k, v in row.items() if k.startswith("frame_budget_")}
            chart = plots.film_prediction_plot(genres, budget, f"{film_id}: {len(images)} frames")
        return pd.DataFrame([row]), chart
