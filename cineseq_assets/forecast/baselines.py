"""Honest baselines, scored on the same windows as the networks.

Each returns log1p gross [N, H] (a point forecast) from the encoder window only:

- ``naive``: the last observed week, repeated;
- ``pooled_decay``: the last week times the median week-of-run retention of the training films;
- ``film_loglinear``: a log-linear decay fitted on the film's observed weeks, guarded: fewer than
  three weeks falls back to the pooled decay, and a rising fit (typical of limited releases that
  are still expanding) is held flat instead of extrapolated upwards;
- ``decay_prior``: the networks' own starting point (pooled by width, adjusted per film);
- ``gradient_boosting``: the served forecaster's gradient-boosted part alone (forecast.boosting:
  LightGBM on the same windows, the median of the log ratio to the last week).

Each is also a :class:`forecast.forecaster.PointForecaster` (the classes at the end), so the
evaluation fits and predicts baselines and networks through the same verbs.
"""

from __future__ import annotations

import numpy as np

from .boosting import Booster
from .decay_prior import PooledRetention, PriorConfig, decay_prior
from .features import HORIZON
from .forecaster import PointForecaster
from .train import PreparedData
from .windows import LOG_GROSS, Windows, _encoder_weeks


def naive(windows: Windows) -> np.ndarray:
    return np.repeat(windows.last_log_gross[:, None], HORIZON, axis=1)


def pooled_decay(windows: Windows, pooled: PooledRetention) -> np.ndarray:
    prior, _ = decay_prior(windows.encoder[:, :, LOG_GROSS], windows.encoder_mask, _encoder_weeks(windows),
                           windows.wide, pooled, HORIZON, PriorConfig(adjust=False))
    return prior


def film_loglinear(windows: Windows, pooled: PooledRetention, min_weeks: int = 3) -> np.ndarray:
    weeks = _encoder_weeks(windows)
    log_gross = windows.encoder[:, :, LOG_GROSS]
    mask = windows.encoder_mask
    count = mask.sum(axis=1)
    x_mean = (weeks * mask).sum(1) / np.maximum(count, 1)
    y_mean = (log_gross * mask).sum(1) / np.maximum(count, 1)
    dx = (weeks - x_mean[:, None]) * mask
    slope = (dx * (log_gross - y_mean[:, None])).sum(1) / np.maximum((dx ** 2).sum(1), 1e-9)
    slope = np.minimum(slope, 0.0)
    ahead = np.arange(1, HORIZON + 1)[None, :]
    fitted_last = y_mean + slope * (weeks[:, -1] - x_mean)
    forecast = fitted_last[:, None] + slope[:, None] * ahead
    return np.where((count >= min_weeks)[:, None], forecast, pooled_decay(windows, pooled))


def prior(windows: Windows) -> np.ndarray:
    return windows.prior


# ------------------------------------------------------------------ the same as forecasters (fit / predict)


class Naive(PointForecaster):
    def point(self, windows: Windows) -> np.ndarray:
        return naive(windows)


class PooledDecay(PointForecaster):
    def fit(self, data: PreparedData) -> PooledDecay:
        self.pooled = data.pooled  # the training films' retention
        return self

    def point(self, windows: Windows) -> np.ndarray:
        return pooled_decay(windows, self.pooled)


class FilmLogLinear(PooledDecay):
    def point(self, windows: Windows) -> np.ndarray:
        return film_loglinear(windows, self.pooled)


class DecayPrior(PointForecaster):
    def point(self, windows: Windows) -> np.ndarray:
        return prior(windows)


class GradientBoosting(PointForecaster):
    def fit(self, data: PreparedData) -> GradientBoosting:
        self.booster = Booster.fit(data.train, seed=self.config.seed, market_dropout=self.config.market_dropout)
        return self

    def point(self, windows: Windows) -> np.ndarray:
        return self.booster.predict(windows)
