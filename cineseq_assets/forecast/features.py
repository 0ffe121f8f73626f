"""What the forecaster sees: encoder, decoder and static feature blocks built from the panel.

Three blocks, each a float array with a fixed, named column order (``FeatureSchema``):

- encoder steps (one per observed week s <= t): the film's own weeks and the market before them;
- decoder steps (one per horizon week t+h): only what is known at the origin t (week of run,
  holiday flags, the wide releases scheduled for that week);
- static (one per film): facts known before release, and the trailer embedding when one exists.

Missing values are never imputed silently: a missing group is zeroed *and* flagged by a
``has_*`` indicator column, so the model can tell "zero" from "unknown". The snapshot columns
taken years after release (schema.POST_RELEASE_COLUMNS and the YouTube counts) are not used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..boxoffice.calendar import HOLIDAYS
from ..boxoffice.schema import WIDE_RELEASE_THEATERS

HORIZON = 4

GENRES = ["Drama", "Comedy", "Action", "Adventure", "Thriller", "Romance", "Family", "Crime",
          "Science Fiction", "Fantasy", "Animation", "Horror", "Mystery", "Music", "History", "War",
          "Documentary", "Western"]
MPAA = ["G", "PG", "PG-13", "R", "NC-17"]
# Distributors with at least ~30 films in the catalog; the rest share "other".
DISTRIBUTORS = ["Warner Bros.", "Universal Pictures", "Twentieth Century Fox", "Lionsgate", "Paramount Pictures",
                "Walt Disney Studios Motion Pictures", "Sony Pictures Entertainment (SPE)", "Fox Searchlight Pictures",
                "Focus Features", "The Weinstein Company", "Roadside Attractions", "DreamWorks", "Metro-Goldwyn-Mayer (MGM)",
                "Screen Gems", "Relativity Media", "A24"]
BUZZ = ["buzz_trends_last4", "buzz_trends_mean", "buzz_trends_peak_weeks_before", "buzz_trends_slope8"]
# The trailer summary used as a static input: level, spread and dynamics of affect, audio energy
# and their alignment. The full 103-column embedding stays in trailer_emotion for analysis.
TRAILER = ["face_presence_ratio", "valence_mean", "valence_std", "valence_volatility", "arousal_mean",
           "arousal_std", "arousal_volatility", "shots_per_minute", "audio_rms_mean", "audio_arousal_mean",
           "audio_onset_mean", "av_alignment_corr"]
HOLIDAY_NAMES = list(HOLIDAYS)


def _holiday_columns(k: int) -> list[str]:
    return [f"holiday_{name}_w{k}" for name in HOLIDAY_NAMES]


ENCODER_FEATURES = ["log_gross", "log_retention", "is_opening", "log_theaters", "log_theater_change",
                    "week_of_run", "weeks_since_holiday", "log_market_gross", "has_market_gross",
                    *[f"holiday_{name}" for name in HOLIDAY_NAMES]]
DECODER_FEATURES = ["week_of_run", "horizon", "prior_log_retention", "log_wide_openings", "has_wide_openings",
                    *[f"holiday_{name}" for name in HOLIDAY_NAMES]]
STATIC_FEATURES = ["log_opening_theaters", "wide_release", "release_year", "release_month",
                   "log_budget", "has_budget", "runtime", "has_runtime",
                   *[f"genre_{g}" for g in GENRES], "has_genres",
                   *[f"mpaa_{m}" for m in MPAA], "has_mpaa",
                   *[f"distributor_{d}" for d in DISTRIBUTORS], "distributor_other",
                   *BUZZ, "has_trends",
                   *[f"trailer_{c}" for c in TRAILER], "has_trailer"]
# Continuous columns standardized with training-film statistics; the rest are 0/1 flags.
CONTINUOUS = {
    "encoder": ["log_gross", "log_retention", "log_theaters", "log_theater_change", "week_of_run",
                "weeks_since_holiday", "log_market_gross"],
    "decoder": ["week_of_run", "horizon", "prior_log_retention", "log_wide_openings"],
    "static": ["log_opening_theaters", "release_year", "release_month", "log_budget", "runtime", *BUZZ,
               *[f"trailer_{c}" for c in TRAILER]],
}


@dataclass
class FeatureSchema:
    """Column names of each block; saved with every model so a loader can check its inputs."""

    encoder: list[str] = field(default_factory=lambda: list(ENCODER_FEATURES))
    decoder: list[str] = field(default_factory=lambda: list(DECODER_FEATURES))
    static: list[str] = field(default_factory=lambda: list(STATIC_FEATURES))

    def to_dict(self) -> dict:
        return asdict(self)


def _log1p(values) -> np.ndarray:
    return np.log1p(np.asarray(values, dtype=float))


def encoder_frame(film: pd.DataFrame) -> pd.DataFrame:
    """Encoder features of every week of one film's panel rows (sorted by week)."""
    log_gross = _log1p(film["gross"])
    log_theaters = _log1p(film["theaters"])
    market = _log1p(film["market_prev_week_gross"])
    frame = pd.DataFrame({
        "log_gross": log_gross,
        "log_retention": np.nan_to_num(np.diff(log_gross, prepend=np.nan), nan=0.0),
        "is_opening": (film["week"].to_numpy() == 1).astype(float),
        "log_theaters": log_theaters,
        "log_theater_change": np.nan_to_num(np.diff(log_theaters, prepend=np.nan), nan=0.0),
        "week_of_run": film["week"].to_numpy(dtype=float),
        "weeks_since_holiday": np.minimum(film["weeks_since_holiday"].to_numpy(dtype=float), 52.0),
        "log_market_gross": np.nan_to_num(market, nan=0.0),
        "has_market_gross": np.isfinite(market).astype(float),
    })
    for name, column in zip(HOLIDAY_NAMES, _holiday_columns(0)):
        frame[f"holiday_{name}"] = film[column].to_numpy(dtype=float)
    return frame[ENCODER_FEATURES]


def decoder_block(film: pd.DataFrame, origin_row: int, prior_log_retention: np.ndarray) -> np.ndarray:
    """Decoder features (HORIZON x features) known at the origin week's row."""
    row = film.iloc[origin_row]
    week = float(row["week"])
    steps = []
    for h in range(1, HORIZON + 1):
        wide = row.get(f"wide_openings_w{h}", np.nan)
        wide_known = pd.notna(wide)
        steps.append([week + h, float(h), prior_log_retention[h - 1],
                      float(np.log1p(wide)) if wide_known else 0.0, float(wide_known),
                      *[float(row[c]) for c in _holiday_columns(h)]])
    return np.asarray(steps, dtype=float)


def static_vector(film_row: pd.Series, trailer: pd.Series | None = None) -> np.ndarray:
    """Static features of one film (``STATIC_FEATURES`` order)."""
    values: dict[str, float] = {}
    opening = float(film_row.get("opening_theaters", np.nan))
    values["log_opening_theaters"] = float(np.log1p(opening)) if np.isfinite(opening) else 0.0
    values["wide_release"] = float(opening >= WIDE_RELEASE_THEATERS)
    release = pd.Timestamp(film_row["release_date"])
    values["release_year"] = float(release.year)
    values["release_month"] = float(release.month)
    _number(values, "log_budget", "has_budget", film_row.get("log_budget", np.nan))
    _number(values, "runtime", "has_runtime", film_row.get("runtime", np.nan))
    genres = film_row.get("genres", np.nan)
    names = set(str(genres).split("|")) if isinstance(genres, str) and genres else set()
    for genre in GENRES:
        values[f"genre_{genre}"] = float(genre in names)
    values["has_genres"] = float(bool(names))
    mpaa = film_row.get("mpaa", np.nan)
    for rating in MPAA:
        values[f"mpaa_{rating}"] = float(mpaa == rating)
    values["has_mpaa"] = float(isinstance(mpaa, str) and mpaa in MPAA)
    distributor = film_row.get("distributor", np.nan)
    for name in DISTRIBUTORS:
        values[f"distributor_{name}"] = float(distributor == name)
    values["distributor_other"] = float(distributor not in DISTRIBUTORS)
    has_trends = bool(film_row.get("has_trends", 0))
    for column in BUZZ:
        value = film_row.get(column, np.nan)
        values[column] = float(value) if has_trends and pd.notna(value) else 0.0
    values["has_trends"] = float(has_trends)
    has_trailer = trailer is not None and bool(trailer.get("has_trailer", 0))
    for column in TRAILER:
        value = trailer.get(column, np.nan) if has_trailer else np.nan
        values[f"trailer_{column}"] = float(value) if pd.notna(value) else 0.0
    values["has_trailer"] = float(has_trailer)
    return np.array([values[name] for name in STATIC_FEATURES], dtype=float)


def _number(values: dict, name: str, flag: str, value) -> None:
    known = pd.notna(value)
    values[name] = float(value) if known else 0.0
    values[flag] = float(known)
