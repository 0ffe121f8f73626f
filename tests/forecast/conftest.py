"""A small real panel and tiny trained forecasters shared by the forecast tests.

The panel is built from the bundled dataset (never from storage/, which is empty on a fresh
checkout): 80 films, wide and limited releases, some with Google Trends buzz. The models are
trained for two epochs with small layers: enough for realistic weights, a few seconds in all.
"""

import io

import pandas as pd
import pytest

from cineseq_assets.boxoffice.bundled import bundled_trends, load_bundled
from cineseq_assets.boxoffice.features import MarketCalendar
from cineseq_assets.boxoffice.panel import film_panel, pooled_panel
from cineseq_assets.forecast.train import TrainConfig, calibrate_conformal, prepare, train_model

ARCHITECTURES = ["seq2seq", "seq2seq_attention"]
WIDE_FILMS, LIMITED_FILMS = 50, 30


@pytest.fixture(scope="session")
def forecast_panel() -> pd.DataFrame:
    """Pooled panel of 80 bundled films, as the panel asset stores it (a Parquet round trip)."""
    data = load_bundled()
    market = MarketCalendar(data.market)
    trends = bundled_trends()
    films = data.films
    wide = films.loc[films["release_width"] == "wide", "film_id"].iloc[::36][:WIDE_FILMS]
    limited = films.loc[films["release_width"] != "wide", "film_id"].iloc[::36][:LIMITED_FILMS]
    frames = [film_panel(data, film_id, market, trends=trends.get(film_id)) for film_id in [*wide, *limited]]
    # The asset is read back from Parquet, which turns missing text into NaN; do the same here.
    return pd.read_parquet(io.BytesIO(pooled_panel(frames).to_parquet(index=False)))


@pytest.fixture(scope="session")
def tiny_models(forecast_panel) -> dict:
    """architecture -> (TrainedModel with conformal widening, PreparedData)."""
    models = {}
    for architecture in ARCHITECTURES:
        config = TrainConfig(architecture=architecture, epochs=2, hidden=16, static_hidden=8, attention_hidden=8)
        data = prepare(forecast_panel, config)
        trained = train_model(data, config)
        calibrate_conformal(trained, data.validation)
        models[architecture] = (trained, data)
    return models
