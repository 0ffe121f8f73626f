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
from .features import (
    DECODER_FEATURES,
    ENCODER_FEATURES,
    HORIZON,
    MARKET_DECODER_FEATURES,
    MARKET_ENCODER_FEATURES,
    decoder_blocks,
    encoder_frame,
    static_vector,
)

LOG_GROSS = ENCODER_FEATURES.index("log_gross")
_PRIOR = DECODER_FEATURES.index("prior_log_retention")
# The market group: its values and their has_* flags, zeroed together when the market is unknown.
ENCODER_MARKET = [ENCODER_FEATURES.index(name) for name in MARKET_ENCODER_FEATURES]
DECODER_MARKET = [DECODER_FEATURES.index(name) for name in MARKET_DECODER_FEATURES]
_DEFAULT_PRIOR = PriorConfig()  # frozen, so one shared default is safe


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

    def is_last_origin(self) -> np.ndarray:
        """True for each film's latest origin: the live forecast when built with ``min_targets=0``."""
        latest = pd.Series(self.origin).groupby(self.film_id.astype(str)).transform("max").to_numpy()
        return self.origin == latest

    @property
    def last_log_gross(self) -> np.ndarray:
        return self.encoder[:, -1, LOG_GROSS]

    def without_market(self) -> "Windows":
        """The same windows with the market group unknown, as for weeks after the chart's end: the
        values zeroed and their has_* flags 0 (what features.py writes for a missing market)."""
        encoder, decoder = self.encoder.copy(), self.decoder.copy()
        encoder[:, :, ENCODER_MARKET] = 0.0
        decoder[:, :, DECODER_MARKET] = 0.0
        return Windows(**{**{f.name: getattr(self, f.name) for f in fields(self)}, "encoder": encoder, "decoder": decoder})

    def with_prior(self, pooled: PooledRetention, config: PriorConfig = _DEFAULT_PRIOR) -> "Windows":
        """The same windows with the decay prior (and the decoder's prior column) computed from ``pooled``."""
        prior, steps = decay_prior(self.encoder[:, :, LOG_GROSS], self.encoder_mask, _encoder_weeks(self),
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
    panel = panel.sort_values(["film_id", "week"]).reset_index(drop=True)
    encoder = encoder_frame(panel).to_numpy(dtype=float)
    decoder = decoder_blocks(panel)
    trailer_rows = trailers.drop_duplicates("film_id").set_index("film_id") if trailers is not None and len(trailers) else None
    film_ids = panel["film_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, film_ids[1:] != film_ids[:-1]])
    ends = np.r_[starts[1:], len(panel)]
    weeks = panel["week"].to_numpy()
    week_starts = panel["week_start"].to_numpy(dtype="datetime64[ns]")
    firsts = panel.iloc[starts].to_dict("records")  # one row per film: its static facts
    parts = []
    for begin, end, first_row in zip(starts, ends, firsts):
        trailer = _trailer_row(trailer_rows, first_row["film_id"])
        part = _film_windows(first_row, weeks[begin:end], week_starts[begin:end], encoder[begin:end],
                             decoder[begin:end], encoder_length, origins, trailer, min_targets)
        if part is not None:
            parts.append(part)
    if not parts:
        raise ValueError("no forecast windows: every film is shorter than its first origin plus one target week")
    return Windows(**{f.name: np.concatenate([p[f.name] for p in parts]) for f in fields(Windows)})


def trailer_table(*tables: pd.DataFrame) -> pd.DataFrame | None:
    """The per-film trailer inputs (trailer_emotion, frame_predictions) as one row per film, for
    ``build_windows``: films never analysed have no row; a film with only one of them gets NaN for
    the other; None when none was materialized."""
    stored = [table.drop_duplicates("film_id") for table in tables if table is not None and len(table)]
    if not stored:
        return None
    merged = stored[0]
    for table in stored[1:]:
        merged = merged.merge(table, on="film_id", how="outer")
    return merged


def _trailer_row(rows: pd.DataFrame | None, film_id: str) -> pd.Series | None:
    return rows.loc[film_id] if rows is not None and film_id in rows.index else None


def _film_windows(first_row: dict, weeks: np.ndarray, week_starts: np.ndarray, encoder: np.ndarray,
                  decoder: np.ndarray, length: int, origins, trailer, min_targets: int) -> dict | None:
    if not np.array_equal(weeks, np.arange(1, len(weeks) + 1)):
        raise ValueError(f"film {first_row['film_id']}: panel weeks must run 1..n without gaps, got {weeks.tolist()}")
    n = len(weeks)
    first, last = (1, n) if origins is None else (max(1, origins[0]), min(n, origins[1]))
    rows = np.array([t for t in range(first, last + 1) if min(HORIZON, n - t) >= min_targets], dtype=int) - 1
    if not len(rows):
        return None
    padded = np.vstack([np.zeros((length - 1, encoder.shape[1])), encoder])
    observed = np.concatenate([np.zeros(length - 1), np.ones(n)])
    future = np.concatenate([encoder[:, LOG_GROSS], np.zeros(HORIZON)])
    future_mask = np.concatenate([np.ones(n), np.zeros(HORIZON)])
    steps = rows[:, None] + np.arange(length)[None, :]  # padded rows of each window
    ahead = rows[:, None] + 1 + np.arange(HORIZON)[None, :]
    static = static_vector(first_row, trailer)
    return {
        "encoder": padded[steps],
        "encoder_mask": observed[steps],
        "decoder": decoder[rows],
        "static": np.repeat(static[None, :], len(rows), axis=0),
        "target": future[ahead],
        "target_mask": future_mask[ahead],
        "prior": np.zeros((len(rows), HORIZON)),
        "film_id": np.full(len(rows), str(first_row["film_id"]), dtype=object),
        "origin": rows + 1,
        "wide": np.full(len(rows), float(first_row["opening_theaters"]) >= WIDE_RELEASE_THEATERS),
        "release_year": np.full(len(rows), pd.Timestamp(first_row["release_date"]).year),
        "origin_week_start": week_starts[rows],
    }
