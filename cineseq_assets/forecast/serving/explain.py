"""Why the model forecast what it did for one window: Integrated Gradients per feature, and attention."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..train import TrainedModel
from .film_forecast import FilmForecast


@dataclass
class Explanation:
    """Why the model forecast what it did for one window."""

    contributions: pd.DataFrame  # block, feature, attribution (summed over weeks, mean over horizons), per horizon too
    converged: bool  # Captum's completeness check passed for every horizon
    attention: np.ndarray | None  # [H, L] weights of the attention model
    attention_source: str  # which model the attention comes from (or why there is none)


def explain_forecast(forecast: FilmForecast, attention_model: TrainedModel | None = None,
                     n_steps: int = 64) -> Explanation:
    """Integrated Gradients of the shown forecast (per feature) and the attention weights.

    When the serving model has no attention, ``attention_model`` (the attention network trained
    beside it) provides the heatmap for the same window, and the explanation says so.
    """
    from ..attributions import attribution_table, integrated_gradients

    model = forecast.model.model
    attributions = integrated_gradients(model, forecast.window, n_steps=n_steps)
    long = attribution_table(attributions)
    per_horizon = long.groupby(["block", "feature", "horizon"], sort=False)["attribution"].sum().unstack("horizon")
    per_horizon.columns = [f"h{h}" for h in per_horizon.columns]
    contributions = per_horizon.assign(attribution=per_horizon.mean(axis=1)).reset_index()
    attention, source = forecast.attention, f"{model.architecture} (serving)"
    if attention is None and attention_model is not None:
        window = forecast.window.with_prior(attention_model.pooled, attention_model.train_config.prior)
        attention, source = attention_model.predict(window)[1][0], f"{attention_model.architecture} (not serving)"
    elif attention is None:
        source = "none: the serving model has no attention and no attention model is stored"
    return Explanation(contributions, bool(attributions.converged.all()), attention, source)
