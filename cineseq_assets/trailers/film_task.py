"""One film's trailer analysis as a task for a Dask worker (dask_engine.fan_out): picklable, its models
loaded once per worker process, its plot drawn there; the asset writes what comes back."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..dask_engine import require_input
from .embedding import EMBEDDING_COLUMNS, EMBEDDING_SCHEMA_VERSION
from .pipeline import TrailerAnalyzer, TrailerConfig
from .plots import trailer_timeline_plot

_ANALYZERS: dict[tuple, TrailerAnalyzer] = {}  # per worker process: the models load for its first trailer only


@dataclass(frozen=True)
class FilmTrailer:
    """What a worker sends back for one film: its row, and its timeline plot with the analysis summary
    when it has a trailer."""

    row: pd.DataFrame
    timeline_png: bytes | None = None
    summary: dict | None = None


def missing_trailer_row(film_id: str) -> pd.DataFrame:
    """A film without a trailer: recorded as missing (the forecaster masks the group)."""
    row = {"film_id": film_id, "has_trailer": 0, "trailer_path": None, **dict.fromkeys(EMBEDDING_COLUMNS, np.nan)}
    return pd.DataFrame([row | {"detector": None, "emotion_model": None, "schema_version": EMBEDDING_SCHEMA_VERSION}])


@dataclass(frozen=True)
class TrailerEmotionTask:
    """``task(film_id)``: the film's emotion embedding row. ``trailers`` maps the films that have a
    trailer to its path, which must be readable at that path on every worker (dask_engine.py)."""

    settings: TrailerConfig
    student_path: str | None
    trailers: dict[str, str]

    def __call__(self, film_id: str) -> FilmTrailer:
        if film_id not in self.trailers:
            return FilmTrailer(missing_trailer_row(film_id))
        path = require_input(self.trailers[film_id], film_id, "its trailer video")
        analysis = self._analyzer().analyze(path)
        meta = {"film_id": film_id, "has_trailer": 1, "trailer_path": str(path)}
        tail = {"detector": self.settings.detector, "emotion_model": analysis.summary["emotion_model"],
                "schema_version": EMBEDDING_SCHEMA_VERSION}
        png = trailer_timeline_plot(analysis.visual, analysis.audio, film_id)
        return FilmTrailer(pd.DataFrame([meta | analysis.embedding | tail]), png, analysis.summary)

    def _analyzer(self) -> TrailerAnalyzer:
        key = (tuple(sorted(asdict(self.settings).items())), self.student_path)
        if key not in _ANALYZERS:
            _ANALYZERS[key] = TrailerAnalyzer(self.settings, student_path=self.student_path)
        return _ANALYZERS[key]
