"""Forecast windows: one per (film, origin week t), never crossing films.

A window holds the encoder steps for weeks max(1, t-L+1) .. t, left-padded to L with a mask of 0
for the weeks before opening (no fake zeros: the mask tells the network which steps exist), the
decoder steps for t+1 .. t+4 with what is known at t, the static vector, and the targets
log1p(gross) for t+1 .. t+4 with their own mask (a film's run can end before t+4).

Arrays are unscaled here; ``scaling.Scalers`` standardizes them for the networks, with
statistics of the training films only. Baselines read the same unscaled arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from ..boxoffice.schema import WIDE_RELEASE_THEATERS
from .decay_prior import PooledRetention, PriorConfig, decay_prior
from .features import (DECODER_FEATURES, ENCODER_FEATURES, HORIZON, HOLIDAY_NAMES, encoder_frame,
                       static_vector)

_LOG_GROSS = ENCODER_FEATURES.index("log_gross")
_PRIOR = DECODER_FEATURES.index("prior_log_retention")


@dataclass
class Windows:
    encoder: np.ndarray  # [N, L, encoder features]
    encoder_mask: np.ndarray  # [N, L] 1 = observed week
    decoder: np.ndarray  # [N, H, decoder features]
    static: np.ndarray  # [N, static features]
    target: np.ndarray  # [N, H] log1p gross (0 where the mask is 0)
    target_mask: np.ndarray  # [N, H]
    prior: np.ndarray  # [N, H] decay baseline, log1p gross
    film_id: np.ndarray  # [N]
    origin: np.ndarray  # [N] origin week t
    wide: np.ndarray  # [N] bool
    release_year: np.ndarray  # [N]
    origin_week_start: np.ndarray  # [N] datetime64: the start of week t

    def __len__(self) -> int:
        return len(self.film_id)

    def subset(self, rows) -> "Windows":
        return Windows(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @property
    def last_log_gross(self) -> np.ndarray:
        return self.encoder[:, -1, _LOG_GROSS]

    def with_prior(self, pooled: PooledRetention, config: PriorConfig = PriorConfig()) -> "Windows":
        """The same windows with the decay prior (and the decoder's prior column) computed from ``pooled``."""
        prior, steps = decay_prior(self.encoder[:, :, _LOG_GROSS], self.encoder_mask, _encoder_weeks(self),
                                   self.wide, pooled, HORIZON, config)
        decoder = self.decoder.copy()
        decoder[:, :, _PRIOR] = steps
        return Windows(**{**{f.name: getattr(self, f.name) for f in fields(self)}, "prior": prior, "decoder": decoder})


def _encoder_weeks(windows: Windows) -> np.ndarray:
    """Week of run of every encoder step, extended before opening so arithmetic stays simple."""
    origin = windows.origin.astype(float)
    length = windows.encoder.shape[1]
    return origin[:, None] - np.arange(length - 1, -1, -1)[None, :]


def build_windows(panel: pd.DataFrame, encoder_length: int = 8, origins: tuple[int, int] | None = None,
                  trailers: pd.DataFrame | None = None, min_targets: int = 1) -> Windows:
    """Windows of every film in ``panel`` (one per origin with at least ``min_targets`` targets).

    ``origins`` limits the origin weeks to an inclusive range. ``min_targets=0`` also keeps the
    last observed week as an origin (the live forecast, whose targets are all unknown).
    ``trailers`` is the trailer_emotion table (film_id + embedding); films without a row are
    marked as having no trailer.
    """
    trailer_rows = trailers.set_index("film_id") if trailers is not None and len(trailers) else None
    parts = [_film_windows(film, encoder_length, origins, _trailer_row(trailer_rows, film_id), min_targets)
             for film_id, film in panel.sort_values(["film_id", "week"]).groupby("film_id", sort=False)]
    parts = [p for p in parts if p is not None]
    if not parts:
        raise ValueError("no forecast windows: every film is shorter than its first origin plus one target week")
    return Windows(**{f.name: np.concatenate([p[f.name] for p in parts]) for f in fields(Windows)})


def _trailer_row(rows: pd.DataFrame | None, film_id: str) -> pd.Series | None:
    if rows is None or film_id not in rows.index:
        return None
    row = rows.loc[film_id]
    return row.iloc[0] if isinstance(row, pd.DataFrame) else row


def _film_windows(film: pd.DataFrame, length: int, origins, trailer, min_targets: int) -> dict | None:
    weeks = film["week"].to_numpy()
    if not np.array_equal(weeks, np.arange(1, len(weeks) + 1)):
        raise ValueError(f"film {film['film_id'].iloc[0]}: panel weeks must run 1..n without gaps, got {weeks.tolist()}")
    n = len(weeks)
    first, last = (1, n) if origins is None else (max(1, origins[0]), min(n, origins[1]))
    chosen = [t for t in range(first, last + 1) if min(HORIZON, n - t) >= min_targets]
    if not chosen:
        return None
    encoder = encoder_frame(film).to_numpy(dtype=float)
    padded = np.vstack([np.zeros((length - 1, encoder.shape[1])), encoder])
    observed = np.concatenate([np.zeros(length - 1), np.ones(n)])
    log_gross = np.log1p(film["gross"].to_numpy(dtype=float))
    future = np.concatenate([log_gross, np.zeros(HORIZON)])
    future_mask = np.concatenate([np.ones(n), np.zeros(HORIZON)])
    decoder = _decoder_blocks(film)
    rows = np.array(chosen) - 1  # 0-based origin rows
    first_row = film.iloc[0]
    static = static_vector(first_row, trailer)
    return {
        "encoder": np.stack([padded[r: r + length] for r in rows]),
        "encoder_mask": np.stack([observed[r: r + length] for r in rows]),
        "decoder": decoder[rows],
        "static": np.repeat(static[None, :], len(rows), axis=0),
        "target": np.stack([future[r + 1: r + 1 + HORIZON] for r in rows]),
        "target_mask": np.stack([future_mask[r + 1: r + 1 + HORIZON] for r in rows]),
        "prior": np.zeros((len(rows), HORIZON)),
        "film_id": np.full(len(rows), str(first_row["film_id"]), dtype=object),
        "origin": rows + 1,
        "wide": np.full(len(rows), float(first_row["opening_theaters"]) >= WIDE_RELEASE_THEATERS),
        "release_year": np.full(len(rows), pd.Timestamp(first_row["release_date"]).year),
        "origin_week_start": film["week_start"].to_numpy(dtype="datetime64[ns]")[rows],
    }


def _decoder_blocks(film: pd.DataFrame) -> np.ndarray:
    """Decoder steps [weeks, H, features] for every origin row of one film."""
    week = film["week"].to_numpy(dtype=float)
    blocks = np.zeros((len(film), HORIZON, len(DECODER_FEATURES)))
    for h in range(1, HORIZON + 1):
        wide = film[f"wide_openings_w{h}"].to_numpy(dtype=float)
        known = np.isfinite(wide)
        columns = {
            "week_of_run": week + h,
            "horizon": np.full(len(film), float(h)),
            "prior_log_retention": np.zeros(len(film)),  # filled by Windows.with_prior
            "log_wide_openings": np.where(known, np.log1p(np.where(known, wide, 0.0)), 0.0),
            "has_wide_openings": known.astype(float),
        }
        for name in HOLIDAY_NAMES:
            columns[f"holiday_{name}"] = film[f"holiday_{name}_w{h}"].to_numpy(dtype=float)
        blocks[:, h - 1, :] = np.column_stack([columns[name] for name in DECODER_FEATURES])
    return blocks
