"""What the forecaster sees: encoder, decoder and static feature blocks built from the panel.

Three blocks, each a float array with a fixed, named column order (``FeatureSchema``):

- encoder steps (one per observed week s <= t): the film's own weeks and the market before them;
- decoder steps (one per horizon week t+h): only what is known at the origin t (week of run,
  holiday flags, the wide releases scheduled for that week);
- static (one per film): facts known before release, and the trailer embedding and the frame
  classifier's genre and budget predictions when they exist.

Missing values are never imputed silently: a missing group is zeroed *and* flagged by a
``has_*`` indicator column, so the model can tell "zero" from "unknown". The snapshot columns
taken years after release (schema.POST_RELEASE_COLUMNS and the YouTube counts) are not used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..boxoffice.calendar import HOLIDAYS
from ..boxoffice.schema import DAY_GROSS_COLUMNS, FILM_GENRES, MPAA_RATINGS, WIDE_RELEASE_THEATERS
from ..contracts import FRAME_FEATURES, HAS_FRAMES, HAS_TRAILER, TRAILER_FEATURES

HORIZON = 4

GENRES = list(FILM_GENRES)
MPAA = list(MPAA_RATINGS)
# Distributors with at least ~30 films in the catalog; the rest share "other".
DISTRIBUTORS = ["Warner Bros.", "Universal Pictures", "Twentieth Century Fox", "Lionsgate", "Paramount Pictures",
                "Walt Disney Studios Motion Pictures", "Sony Pictures Entertainment (SPE)", "Fox Searchlight Pictures",
                "Focus Features", "The Weinstein Company", "Roadside Attractions", "DreamWorks", "Metro-Goldwyn-Mayer (MGM)",
                "Screen Gems", "Relativity Media", "A24"]
BUZZ = ["buzz_trends_last4", "buzz_trends_mean", "buzz_trends_peak_weeks_before", "buzz_trends_slope8"]
# The trailer summary and the frame classifier's film-level scores: optional static inputs, zeros
# plus has_trailer / has_frames = 0 without one. Their names are the stages' contract (contracts.py).
TRAILER = list(TRAILER_FEATURES)
FRAME = list(FRAME_FEATURES)
HOLIDAY_NAMES = list(HOLIDAYS)


def _holiday_columns(k: int) -> list[str]:
    return [f"holiday_{name}_w{k}" for name in HOLIDAY_NAMES]


# What the daily chart says inside each week (panel columns of boxoffice.features.daily_shape_features):
# the audience's mix (weekend share, Sunday over Friday), where the week ends against its average and
# how the last days held against the same days a week before; the share of each day of the run week.
# Zero with has_daily 0 where a day is missing (a weekly source has none).
INTRAWEEK = ["weekend_share", "sunday_over_friday", "late_week_retention", "last_day_level"]
DAY_SHARES = [f"day_share_{k}" for k in range(1, 8)]
ENCODER_FEATURES = ["log_gross", "log_retention", "is_opening", "log_theaters", "log_theater_change",
                    "week_of_run", "weeks_since_holiday", "log_market_gross", "has_market_gross",
                    *[f"holiday_{name}" for name in HOLIDAY_NAMES], *INTRAWEEK, *DAY_SHARES, "has_daily"]
DECODER_FEATURES = ["week_of_run", "horizon", "prior_log_retention", "log_wide_openings", "has_wide_openings",
                    *[f"holiday_{name}" for name in HOLIDAY_NAMES]]
# No release year: a film after the data would be read at the training range's edge, and a film's run
# moved from 2014 to 2025 moved its forecast by up to 16% (tests/forecast/test_market.py); without it,
# 6% at most and the same validation WAPE. The calendar is in release_month and the decoder's holidays.
STATIC_FEATURES = ["log_opening_theaters", "wide_release", "release_month",
                   "log_budget", "has_budget", "runtime", "has_runtime",
                   *[f"genre_{g}" for g in GENRES], "has_genres",
                   *[f"mpaa_{m}" for m in MPAA], "has_mpaa",
                   *[f"distributor_{d}" for d in DISTRIBUTORS], "distributor_other",
                   *BUZZ, "has_trends",
                   *[f"trailer_{c}" for c in TRAILER], "has_trailer",
                   *FRAME, "has_frames"]
# The market group (whole-chart gross before each week, wide openings scheduled ahead): unknown
# after the chart's end or where the chart is partial (boxoffice.features.MIN_MARKET_COVERAGE),
# and, for a forecaster that reads it, masked at random in training (TrainConfig.market_dropout) so that
# unknown is a state seen.
MARKET_ENCODER_FEATURES = ["log_market_gross", "has_market_gross"]
MARKET_DECODER_FEATURES = ["log_wide_openings", "has_wide_openings"]
# The share of training windows whose market group is hidden (TrainConfig.market_dropout). 1: what serves
# never reads the market. Chosen on validation films (3 seeds, both splits, the mean of the WAPEs with the
# market known and hidden): 0.2037 against 0.2043 for 0.5, whose forecasts are 0.9-1.5% worse on the test films
# whenever the market is unknown, as it is for every film after the chart (docs/forecasting.md). A user
# whose market context is whole can let the forecaster read it (forecast_model's market_dropout 0.5).
MARKET_DROPOUT = 1.0
# Continuous columns standardized with training-film statistics; the rest are 0/1 flags.
CONTINUOUS = {
    "encoder": ["log_gross", "log_retention", "log_theaters", "log_theater_change", "week_of_run",
                "weeks_since_holiday", "log_market_gross", *INTRAWEEK, *DAY_SHARES],
    "decoder": ["week_of_run", "horizon", "prior_log_retention", "log_wide_openings"],
    "static": ["log_opening_theaters", "release_month", "log_budget", "runtime", *BUZZ,
               *[f"trailer_{c}" for c in TRAILER], "frame_expected_budget_class"],
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


def encoder_frame(panel: pd.DataFrame) -> pd.DataFrame:
    """Encoder features of every panel row; ``panel`` sorted by film and week.

    Differences (retention, theater change) never cross films: a film's first row gets 0 with
    ``is_opening`` set.
    """
    log_gross = _log1p(panel["gross"])
    log_theaters = _log1p(panel["theaters"])
    market = _log1p(panel["market_prev_week_gross"])
    film = panel["film_id"].to_numpy()
    first = np.r_[True, film[1:] != film[:-1]]
    frame = pd.DataFrame({
        "log_gross": log_gross,
        "log_retention": np.where(first, 0.0, np.diff(log_gross, prepend=0.0)),
        "is_opening": (panel["week"].to_numpy() == 1).astype(float),
        "log_theaters": log_theaters,
        "log_theater_change": np.where(first, 0.0, np.diff(log_theaters, prepend=0.0)),
        "week_of_run": panel["week"].to_numpy(dtype=float),
        "weeks_since_holiday": np.minimum(panel["weeks_since_holiday"].to_numpy(dtype=float), 52.0),
        "log_market_gross": np.nan_to_num(market, nan=0.0),
        "has_market_gross": np.isfinite(market).astype(float),
    })
    for name, column in zip(HOLIDAY_NAMES, _holiday_columns(0)):
        frame[f"holiday_{name}"] = panel[column].to_numpy(dtype=float)
    return pd.concat([frame, intraweek_frame(panel).set_axis(frame.index)], axis=1)[ENCODER_FEATURES]


def intraweek_frame(panel: pd.DataFrame) -> pd.DataFrame:
    """The intra-week encoder columns: zero with ``has_daily`` 0 where the week's days are not all known
    (a panel without the day columns, from a weekly source, has none)."""
    missing = pd.Series(np.nan, index=panel.index)
    days = np.column_stack([panel.get(column, missing).to_numpy(dtype=float) for column in DAY_GROSS_COLUMNS])
    known = np.isfinite(days).all(axis=1) & (panel["gross"].to_numpy(dtype=float) > 0)
    shares = days / np.where(known, panel["gross"].to_numpy(dtype=float), 1.0)[:, None]
    values = {name: panel.get(name, missing).to_numpy(dtype=float) for name in INTRAWEEK}
    values |= {name: shares[:, k] for k, name in enumerate(DAY_SHARES)}
    frame = pd.DataFrame({name: np.where(known & np.isfinite(column), column, 0.0) for name, column in values.items()},
                         index=panel.index)
    frame["has_daily"] = known.astype(float)
    return frame


def decoder_blocks(panel: pd.DataFrame) -> np.ndarray:
    """Decoder steps [rows, H, features] known at each panel row taken as the origin week."""
    week = panel["week"].to_numpy(dtype=float)
    blocks = np.zeros((len(panel), HORIZON, len(DECODER_FEATURES)))
    for h in range(1, HORIZON + 1):
        wide = panel[f"wide_openings_w{h}"].to_numpy(dtype=float)
        known = np.isfinite(wide)
        columns = {
            "week_of_run": week + h,
            "horizon": np.full(len(panel), float(h)),
            "prior_log_retention": np.zeros(len(panel)),  # filled in by Windows.with_prior
            "log_wide_openings": np.log1p(np.where(known, wide, 0.0)),
            "has_wide_openings": known.astype(float),
        }
        for name, column in zip(HOLIDAY_NAMES, _holiday_columns(h)):
            columns[f"holiday_{name}"] = panel[column].to_numpy(dtype=float)
        blocks[:, h - 1, :] = np.column_stack([columns[name] for name in DECODER_FEATURES])
    return blocks


def static_vector(film_row: Mapping, trailer: Mapping | None = None) -> np.ndarray:
    """Static features of one film (``STATIC_FEATURES`` order) from its panel row (a dict or Series)
    and its trailer row (trailer_emotion and frame_predictions columns, either may be missing)."""
    values: dict[str, float] = {}
    opening = float(film_row.get("opening_theaters", np.nan))
    values["log_opening_theaters"] = float(np.log1p(opening)) if np.isfinite(opening) else 0.0
    values["wide_release"] = float(opening >= WIDE_RELEASE_THEATERS)
    release = pd.Timestamp(film_row["release_date"])
    values["release_month"] = float(release.month)
    _number(values, "log_budget", "has_budget", film_row.get("log_budget", np.nan))
    _number(values, "runtime", "has_runtime", film_row.get("runtime", np.nan))
    genres = _text(film_row.get("genres"))
    names = set(genres.split("|")) if genres else set()
    for genre in GENRES:
        values[f"genre_{genre}"] = float(genre in names)
    values["has_genres"] = float(bool(names))
    mpaa = _text(film_row.get("mpaa"))
    for rating in MPAA:
        values[f"mpaa_{rating}"] = float(mpaa == rating)
    values["has_mpaa"] = float(mpaa in MPAA)
    distributor = _text(film_row.get("distributor"))
    for name in DISTRIBUTORS:
        values[f"distributor_{name}"] = float(distributor == name)
    values["distributor_other"] = float(distributor not in DISTRIBUTORS)
    has_trends = bool(film_row.get("has_trends", 0))
    for column in BUZZ:
        value = film_row.get(column, np.nan)
        values[column] = float(value) if has_trends and pd.notna(value) else 0.0
    values["has_trends"] = float(has_trends)
    has_trailer = _flag(trailer, HAS_TRAILER)
    for column in TRAILER:
        value = trailer.get(column, np.nan) if has_trailer else np.nan
        values[f"trailer_{column}"] = float(value) if pd.notna(value) else 0.0
    values["has_trailer"] = float(has_trailer)
    has_frames = _flag(trailer, HAS_FRAMES)
    for column in FRAME:
        value = trailer.get(column, np.nan) if has_frames else np.nan
        values[column] = float(value) if pd.notna(value) else 0.0
    values["has_frames"] = float(has_frames)
    return np.array([values[name] for name in STATIC_FEATURES], dtype=float)


def _flag(row: Mapping | None, name: str) -> bool:
    """A 0/1 column of an optional row; missing (no row, no column, NaN after a merge) is 0."""
    value = None if row is None else row.get(name)
    return bool(pd.notna(value) and value)


def _text(value) -> str | None:
    """A text cell, or None when missing (NaN, None or pd.NA alike)."""
    return value if isinstance(value, str) and value else None


def _number(values: dict, name: str, flag: str, value) -> None:
    known = pd.notna(value)
    values[name] = float(value) if known else 0.0
    values[flag] = float(known)
