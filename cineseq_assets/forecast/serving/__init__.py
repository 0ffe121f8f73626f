"""The serving layer: forecasts for the front ends (the demo's page and its JSON API), without Dagster or Gradio.

- ``model``: the forecaster that serves now (serving.json), reloaded when a newer one is materialized;
- ``films``: :class:`FilmService`, the catalog, film lookup, forecasts, explanations, new films;
- ``film_forecast``: one film's forecast from one origin week, with its backtest errors;
- ``explain``: Integrated Gradients and attention of a forecast;
- ``reports``: what the Model tab reads (stored models, the evaluation summary, diagnostic plots).

Films that are not in the catalog are built by ``forecast.new_films`` (shared with ``cineseq forecast``).
The names a front end needs are importable from here.
"""

from ..new_films import write_weekly_file
from .explain import Explanation, explain_forecast
from .film_forecast import ERROR_COLUMNS, FORECAST_TABLE_COLUMNS, HISTORY_COLUMNS, FilmForecast, forecast_panel
from .films import FilmNotFoundError, FilmService
from .model import ModelWatcher, ServedModel
from .reports import diagnostic_images, evaluation_table, stored_evaluation, stored_models

__all__ = [
    "ERROR_COLUMNS", "FORECAST_TABLE_COLUMNS", "HISTORY_COLUMNS", "Explanation", "FilmForecast", "FilmNotFoundError",
    "FilmService", "ModelWatcher", "ServedModel", "diagnostic_images", "evaluation_table", "explain_forecast",
    "forecast_panel", "stored_evaluation", "stored_models", "write_weekly_file",
]
