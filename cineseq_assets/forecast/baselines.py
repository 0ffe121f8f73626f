"""Honest baselines, scored on the same windows as the networks.

Each returns log1p gross [N, H] (a point forecast) from the encoder window only:

- ``naive``: the last observed week, repeated;
- ``pooled_decay``: the last week times the median week-of-run retention of the training films;
- ``film_loglinear``: a log-linear decay fitted on the film's observed weeks, guarded: fewer than
  three weeks falls back to the pooled decay, and a rising fit (typical of limited releases that
  are still expanding) is held flat instead of extrapolated upwards;
- ``decay_prior``: the networks' own starting point (pooled by width, adjusted per film);
- ``gradient_boosting``: LightGBM on the same features, predicting the log ratio to the last
  week, as a practitioner would try first (an optional dependency: the ``bench`` extra).

Each is also a :class:`forecast.forecaster.PointForecaster` (the classes at the end), so the
evaluation fits and predicts baselines and networks through the same verbs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .decay_prior import PooledRetention, PriorConfig, decay_prior
from .features import ENCODER_FEATURES, HORIZON
from .forecaster import PointForecaster
from .train import PreparedData
from .windows import Windows, _encoder_weeks

_LOG_GROSS = ENCODER_FEATURES.index("log_gross")


def naive(windows: Windows) -> np.ndarray:
    return np.repeat(windows.last_log_gross[:, None], HORIZON, axis=1)


def pooled_decay(windows: Windows, pooled: PooledRetention) -> np.ndarray:
    prior, _ = decay_prior(windows.encoder[:, :, _LOG_GROSS], windows.encoder_mask, _encoder_weeks(windows),
                           windows.wide, pooled, HORIZON, PriorConfig(adjust=False))
    return prior


def film_loglinear(windows: Windows, pooled: PooledRetention, min_weeks: int = 3) -> np.ndarray:
    weeks = _encoder_weeks(windows)
    log_gross = windows.encoder[:, :, _LOG_GROSS]
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


def boosting_features(windows: Windows, horizon: int) -> np.ndarray:
    """Lags of log gross, retention and theaters, week of run, the horizon's calendar, static facts."""
    enc = windows.encoder
    keep = [ENCODER_FEATURES.index(n) for n in ("log_gross", "log_retention", "log_theaters", "log_theater_change")]
    lags = []
    for lag in range(4):
        step = enc[:, -1 - lag, keep].copy()
        step[windows.encoder_mask[:, -1 - lag] == 0] = np.nan  # LightGBM handles missing natively
        lags.append(step)
    dec = windows.decoder[:, horizon - 1, :]
    market = enc[:, -1, ENCODER_FEATURES.index("log_market_gross")]
    market = np.where(enc[:, -1, ENCODER_FEATURES.index("has_market_gross")] > 0, market, np.nan)  # unknown, not 0
    values = np.column_stack([*lags, market,
                              dec, windows.static, np.full(len(windows), horizon)])
    return pd.DataFrame(values, columns=[f"x{i}" for i in range(values.shape[1])])  # same names at fit and predict


def fit_gradient_boosting(train: Windows, validation: Windows, seed: int = 0, threads: int = 2):
    """One LightGBM regressor over all horizons (the horizon is a feature), early-stopped on validation."""
    import lightgbm as lgb

    def stacked(windows: Windows):
        x = pd.concat([boosting_features(windows, h) for h in range(1, HORIZON + 1)], ignore_index=True)
        y = np.concatenate([windows.target[:, h - 1] - windows.last_log_gross for h in range(1, HORIZON + 1)])
        keep = np.concatenate([windows.target_mask[:, h - 1] > 0 for h in range(1, HORIZON + 1)])
        return x[keep].reset_index(drop=True), y[keep]

    x_train, y_train = stacked(train)
    x_val, y_val = stacked(validation)
    model = lgb.LGBMRegressor(n_estimators=2000, learning_rate=0.03, num_leaves=31, min_child_samples=20,
                              subsample=0.8, subsample_freq=1, colsample_bytree=0.8, objective="l1",
                              random_state=seed, n_jobs=threads, verbose=-1)
    model.fit(x_train, y_train, eval_set=[(x_val, y_val)], callbacks=[lgb.early_stopping(100, verbose=False)])
    return model


def gradient_boosting(windows: Windows, model) -> np.ndarray:
    return np.column_stack([windows.last_log_gross + model.predict(boosting_features(windows, h))
                            for h in range(1, HORIZON + 1)])


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
    requires = ("lightgbm",)

    def fit(self, data: PreparedData) -> GradientBoosting:
        self.model = fit_gradient_boosting(data.train, data.validation, seed=self.config.seed)
        return self

    def point(self, windows: Windows) -> np.ndarray:
        return gradient_boosting(windows, self.model)
