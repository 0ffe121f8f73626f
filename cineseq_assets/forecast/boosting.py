"""A direct gradient-boosted forecaster (LightGBM) on the networks' windows, and its blend with a network.

The booster predicts, for each window and horizon h, the log ratio of week t+h to week t (one row per
window and horizon, the horizon a feature) with the median (quantile 0.5) objective, because WAPE is
minimized by the median. Its inputs are the window's last encoder week and a few earlier ones, the
decoder step of the horizon, the static vector and the target week's calendar: the same arrays the
networks read, so one ``Windows`` serves both and a forecast needs nothing more.

Blending: the served network's three quantiles are moved by ``weight`` x (booster p50 - network p50)
in log space, so the band keeps the network's shape around the blended median; the band's width is
then set by the network's conformal calibration, which runs after the blend is chosen. The weight is
chosen on validation films (dollar WAPE), and 0 (no booster) is always a candidate.

Stored without pickle, in LightGBM's own text model format, beside the network's weights file; its
SHA-256 is kept in the weights' metadata and checked on load, so a booster left over from another
training run is refused instead of silently blended.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..storage import write_bytes_atomic
from .features import DECODER_FEATURES, ENCODER_FEATURES, HORIZON, MARKET_DROPOUT, STATIC_FEATURES
from .metrics import point_errors
from .windows import DECODER_MARKET, ENCODER_MARKET, LOG_GROSS, Windows

SUFFIX = ".booster.txt"
# The settings measured on validation films (the quick direct LightGBM; 1,500 trees at half the
# rate and smaller trees were no better); min_child_samples keeps leaves away from single films.
PARAMS = {"objective": "quantile", "alpha": 0.5, "n_estimators": 600, "learning_rate": 0.03, "num_leaves": 63,
          "min_child_samples": 40, "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8}
BLEND_GRID = np.round(np.linspace(0.0, 1.0, 11), 2)

_LAGGED = ["log_gross", "log_retention", "log_theater_change", "weekend_share", "late_week_retention", "last_day_level"]
FEATURES = ([f"last_{name}" for name in ENCODER_FEATURES] + [f"lag1_{name}" for name in _LAGGED] +
            [f"lag2_{name}" for name in _LAGGED] + ["opening_log_gross"] + [f"target_{name}" for name in DECODER_FEATURES] +
            STATIC_FEATURES + ["target_month", "target_iso_week", "origin_week"])
_LAGGED_INDEX = [ENCODER_FEATURES.index(name) for name in _LAGGED]
_IS_OPENING = ENCODER_FEATURES.index("is_opening")
_HAS_MARKET = ENCODER_FEATURES.index("has_market_gross")
_HAS_WIDE_OPENINGS = DECODER_FEATURES.index("has_wide_openings")


def features(windows: Windows) -> np.ndarray:
    """[H, N, len(FEATURES)]: the inputs of every window for each horizon 1..H; NaN where a week or the
    market is unknown (LightGBM routes missing values on its own, so unknown is never read as zero).
    What does not depend on the horizon is computed once."""
    encoder = windows.encoder.copy()
    encoder[windows.encoder_mask == 0] = np.nan  # weeks before opening do not exist
    market = encoder[:, :, ENCODER_MARKET]
    market[encoder[:, -1, _HAS_MARKET] == 0] = np.nan
    encoder[:, :, ENCODER_MARKET] = market
    decoder = windows.decoder.copy()
    market = decoder[:, :, DECODER_MARKET]
    market[decoder[:, :, _HAS_WIDE_OPENINGS] == 0] = np.nan
    decoder[:, :, DECODER_MARKET] = market
    weeks = np.column_stack([encoder[:, -1, :], encoder[:, -2, _LAGGED_INDEX], encoder[:, -3, _LAGGED_INDEX],
                             _opening_log_gross(encoder)])
    return np.stack([np.column_stack([weeks, decoder[:, h - 1, :], windows.static, *_target_calendar(windows, h),
                                      windows.origin.astype(float)]) for h in range(1, HORIZON + 1)])


def _opening_log_gross(encoder: np.ndarray) -> np.ndarray:
    """The opening week's log gross where the window still sees it, else NaN."""
    opening = encoder[:, :, _IS_OPENING] == 1  # padded (NaN) weeks compare False
    return np.where(opening.any(axis=1), np.where(opening, encoder[:, :, LOG_GROSS], 0.0).sum(axis=1), np.nan)


def _target_calendar(windows: Windows, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Month and ISO week of each window's target week t + ``horizon``. (A Python loop over dates:
    pandas' isocalendar was measured 5x slower for one film, the serving case.)"""
    target_week = windows.origin_week_start.astype("datetime64[D]") + np.timedelta64(7 * horizon, "D")
    month = target_week.astype("datetime64[M]").astype(int) % 12 + 1
    iso_week = np.array([int(day.isocalendar()[1]) for day in target_week.astype(object)], dtype=float)
    return month, iso_week


def stacked(windows: Windows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, target log ratio, observed) of every window and horizon, horizon-major."""
    x = features(windows).reshape(-1, len(FEATURES))
    y = (windows.target - windows.last_log_gross[:, None]).T.reshape(-1)
    observed = (windows.target_mask > 0).T.reshape(-1)
    return x, y, observed


@dataclass
class Booster:
    """A fitted LightGBM booster of the log ratio (see the module docstring)."""

    booster: object  # lightgbm.Booster

    @classmethod
    def fit(cls, train: Windows, seed: int = 0, threads: int = 2, market_dropout: float = MARKET_DROPOUT,
            window_weight: np.ndarray | None = None) -> Booster:
        """``window_weight`` [N] weighs each training window's rows (none: equal weights, as served;
        benchmarks/booster_ceiling.py measures recency weights)."""
        import lightgbm as lgb

        rng = np.random.default_rng(seed)
        hidden = rng.random(len(train)) < market_dropout
        parts = [stacked(train.subset(~hidden)), stacked(train.subset(hidden).without_market())]
        x = np.vstack([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        observed = np.concatenate([p[2] for p in parts])
        weight = None
        if window_weight is not None:  # stacked rows are horizon-major
            weight = np.concatenate([np.tile(window_weight[~hidden], HORIZON), np.tile(window_weight[hidden], HORIZON)])[observed]
        model = lgb.LGBMRegressor(**PARAMS, random_state=seed, n_jobs=threads, verbose=-1)
        model.fit(x[observed], y[observed], sample_weight=weight)
        return cls(model.booster_)

    def predict(self, windows: Windows) -> np.ndarray:
        """log1p gross p50 [N, H]."""
        if not len(windows):
            return np.zeros((0, HORIZON))
        ratio = self.booster.predict(features(windows).reshape(-1, len(FEATURES)), num_threads=1).reshape(HORIZON, len(windows)).T
        return windows.last_log_gross[:, None] + ratio

    def save(self, path: Path) -> str:
        """Write the text model to ``path`` atomically; returns its SHA-256 (for the weights' metadata)."""
        text = self.booster.model_to_string().encode()
        write_bytes_atomic(text, Path(path))
        return hashlib.sha256(text).hexdigest()

    @classmethod
    def load(cls, path: Path, sha256: str) -> Booster:
        import lightgbm as lgb

        path = Path(path)
        if not path.exists():
            raise ModelError(path, "the gradient-boosted part of this forecaster is missing",
                             "Materialize forecast_model again: it writes the network and its booster together.")
        text = path.read_bytes()
        if hashlib.sha256(text).hexdigest() != sha256:
            raise ModelError(path, "belongs to another training run than the weights beside it",
                             "Materialize forecast_model again: it writes the network and its booster together.")
        return cls(lgb.Booster(model_str=text.decode()))


def blend(log_quantiles: np.ndarray, booster_p50: np.ndarray, weight: float) -> np.ndarray:
    """Move the three quantiles by ``weight`` x (booster p50 - their p50), in place (see the module docstring)."""
    log_quantiles += (weight * (booster_p50 - log_quantiles[..., 1]))[..., None].astype(log_quantiles.dtype)
    return log_quantiles


def choose_weight(network_quantiles: np.ndarray, booster_p50: np.ndarray, validation: Windows) -> tuple[float, dict]:
    """The blend weight with the lowest dollar WAPE on ``validation`` (ties: the smaller weight), and
    the WAPE of every candidate."""
    mask = validation.target_mask > 0
    actual = np.expm1(validation.target[mask])
    scores = {}
    for weight in BLEND_GRID:
        p50 = blend(network_quantiles.copy(), booster_p50, weight)[..., 1]
        scores[float(weight)] = point_errors(np.expm1(p50[mask]), actual)["wape"]
    best = min(scores, key=lambda w: (round(scores[w], 6), w))
    return best, scores
