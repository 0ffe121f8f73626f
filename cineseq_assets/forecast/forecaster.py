"""One protocol for every forecaster the evaluation compares, baselines included.

As neuralforecast's models share one base, every model here has the same verbs: ``fit(prepared)``
learns from the training films (and, where it early-stops or calibrates, the validation films) and
returns the forecaster; ``predict(windows)`` returns log1p quantiles [N, H, 3] (p10, p50, p90). A
point forecast (the baselines) has NaN p10 and p90: it claims no interval. The evaluation loops over
forecasters by name without knowing which kind each is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace

import numpy as np

from .models import ARCHITECTURES
from .train import (
    PreparedData,
    TrainConfig,
    TrainedModel,
    calibrate_conformal,
    choose_serving,
    fit_forecaster,
    recent_calibration,
    served_validation_wape,
)
from .windows import Windows


class Forecaster(ABC):
    """Built from a TrainConfig (its seed, and for the networks everything else); see the module docstring."""

    requires: tuple[str, ...] = ()  # optional packages it needs (the evaluation skips it, saying so, without them)

    def __init__(self, config: TrainConfig):
        self.config = config

    def fit(self, data: PreparedData) -> Forecaster:
        return self

    @abstractmethod
    def predict(self, windows: Windows) -> np.ndarray:
        """log1p quantiles [N, H, 3] of ``windows`` (p10, p50, p90; NaN p10/p90 for a point forecast)."""

    def fit_report(self) -> dict:
        """What fitting took, for the evaluation's runs table (beyond the wall time it measures itself)."""
        return {}


class PointForecaster(Forecaster):
    """A forecaster of one value per horizon (log1p gross [N, H]), served as the p50."""

    @abstractmethod
    def point(self, windows: Windows) -> np.ndarray:
        """log1p gross [N, H]."""

    def predict(self, windows: Windows) -> np.ndarray:
        point = self.point(windows)
        quantiles = np.full((*point.shape, 3), np.nan)
        quantiles[..., 1] = point
        return quantiles


class Network(Forecaster):
    """A seq2seq network (forecast.models), trained with early stopping and conformally calibrated on
    the validation films; ``changes`` to the TrainConfig pick the variant (architecture, decay residual)."""

    def __init__(self, config: TrainConfig, changes: dict | None = None):
        super().__init__(replace(config, **(changes or {})))
        self.trained: TrainedModel | None = None

    def fit(self, data: PreparedData) -> Network:
        self.trained = fit_forecaster(data, self.config)
        return self

    def predict(self, windows: Windows) -> np.ndarray:
        return self.trained.predict(windows)[0]

    def fit_report(self) -> dict:
        best = min(self.trained.history, key=lambda h: h["validation_wape"])
        report = {"epochs": len(self.trained.history), "best_epoch": best["epoch"], "validation_wape": best["validation_wape"]}
        if self.trained.booster is not None:
            report |= {"blend_weight": self.trained.blend_weight, "blended_validation_wape": served_validation_wape(self.trained)}
        return report


class Served(Network):
    """What forecast_model serves, evaluated like any model: each architecture fitted as it serves
    (``fit_forecaster``, one booster shared), and the one with the lower validation WAPE kept."""

    def fit(self, data: PreparedData) -> Served:
        fitted, booster = {}, None
        for architecture in ARCHITECTURES:
            fitted[architecture] = fit_forecaster(data, replace(self.config, architecture=architecture), booster=booster)
            booster = fitted[architecture].booster
        self.fitted = fitted
        self.architecture = choose_serving(fitted)
        self.trained = fitted[self.architecture]
        return self

    def network_alone(self, architecture: str, data: PreparedData) -> Network:
        """The ``architecture`` network this fit trained, on its own, as ``Network`` with the booster off
        would fit it, without training it again: ``train_model`` does not read ``boosting``, so with the
        same seed it trains the same weights. Its band is calibrated on the validation films without the
        booster, as ``fit_forecaster`` calibrates a network alone."""
        served = self.fitted[architecture]
        alone = replace(served, train_config=replace(served.train_config, boosting=False), booster=None,
                        blend_weight=0.0, blend_scores={}, recent=None)
        calibrate_conformal(alone, data.validation)
        alone.recent = recent_calibration(alone, data.validation)
        network = Network(self.config, changes={"architecture": architecture, "boosting": False})
        network.trained = alone
        return network

    def fit_report(self) -> dict:
        return {**super().fit_report(), "architecture": self.architecture}
