"""Forecasts that hold when the market context is missing: after the chart's end, or removed.

The model is trained here on 280 bundled films for a few epochs (the shared tiny models see 80
films for two epochs: too few for a market effect worth testing), reading the market where it is
known (market_dropout 0.5; the default reads none), as forecast_model fits what serves: the network
with its booster blended in (fit_forecaster).
"""

import calendar

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.boxoffice.bundled import bundled_trends, load_bundled
from cineseq_assets.boxoffice.features import FilmContext, MarketCalendar, build_film_panel
from cineseq_assets.boxoffice.panel import film_panel, film_row, pooled_panel
from cineseq_assets.errors import ModelError
from cineseq_assets.forecast.calibration import forecast_dates
from cineseq_assets.forecast.onnx_export import OnnxForecaster, export_onnx
from cineseq_assets.forecast.store import load_model, save_model
from cineseq_assets.forecast.train import TrainConfig, fit_forecaster, prepare, train_model
from cineseq_assets.forecast.windows import build_windows
from cineseq_assets.weights import read_weights, write_weights

FILMS = ["rl2908456449", "rl3059975681", "rl475497985"]  # Inception (2010), Endgame (2019), Grand Budapest (2014, platform)


@pytest.fixture(scope="module")
def bundled():
    data = load_bundled()
    return data, MarketCalendar(data.market), bundled_trends()


@pytest.fixture(scope="module")
def trained(bundled):
    data, market, trends = bundled
    films = data.films
    chosen = [*films.loc[films["release_width"] == "wide", "film_id"].iloc[::9][:200],
              *films.loc[films["release_width"] != "wide", "film_id"].iloc[::12][:80]]
    panel = pooled_panel([film_panel(data, film_id, market, trends=trends.get(film_id)) for film_id in chosen])
    # market_dropout 0.5: a forecaster that reads the market where it is known (what serves by default,
    # features.MARKET_DROPOUT, never reads it, so its forecasts cannot move when the market goes missing)
    config = TrainConfig(epochs=8, hidden=32, static_hidden=16, attention_hidden=16, market_dropout=0.5)
    return fit_forecaster(prepare(panel, config), config)


def same_calendar_year(year: int, after: int) -> int:
    """The first year from ``after`` whose dates fall on the same weekdays as ``year``'s (so the
    holiday flags of a shifted run stay the same and only the market changes)."""
    return next(y for y in range(after, after + 29) if pd.Timestamp(y, 1, 1).weekday() == pd.Timestamp(year, 1, 1).weekday()
                and calendar.isleap(y) == calendar.isleap(year))


def panel_of(bundled, film_id: str, market: MarketCalendar | None, to_year: int | None = None) -> pd.DataFrame:
    """The film's panel, with its run moved to ``to_year``'s calendar when given."""
    data, _, trends = bundled
    row = film_row(data, film_id).copy()
    weeks = data.film_weeks(film_id).copy()
    year = pd.Timestamp(row["release_date"]).year
    offset = pd.Timestamp(to_year, 1, 1) - pd.Timestamp(year, 1, 1) if to_year else pd.Timedelta(0)
    weeks["week_start"] = pd.to_datetime(weeks["week_start"]) + offset
    row["release_date"] = pd.Timestamp(row["release_date"]) + offset
    return build_film_panel(weeks, FilmContext(film=row, market=market, trends=trends.get(film_id)))


def four_week_totals(trained, panel: pd.DataFrame) -> np.ndarray:
    """The median forecast of the next four weeks' gross, in dollars, from each origin week 2..8."""
    windows = build_windows(panel, origins=(2, 8)).with_prior(trained.pooled)
    return np.expm1(trained.predict(windows)[0][..., 1]).sum(axis=1)


@pytest.mark.parametrize("film_id", FILMS)
def test_a_forecast_holds_without_its_market(trained, bundled, film_id):
    _, market, _ = bundled
    known = panel_of(bundled, film_id, market)
    assert known["has_market"].head(8).eq(1).all()  # the rows that origins 2..8 read
    later_year = same_calendar_year(pd.Timestamp(known["release_date"].iloc[0]).year, after=market.table["date"].max().year + 1)
    after_the_chart = panel_of(bundled, film_id, market, to_year=later_year)
    assert after_the_chart["has_market"].eq(0).all()
    removed = panel_of(bundled, film_id, None)
    expected = four_week_totals(trained, known)
    for unknown in (after_the_chart, removed):
        assert np.abs(four_week_totals(trained, unknown) / expected - 1).max() <= 0.10


def test_a_model_trained_without_the_market_never_reads_it(forecast_panel):
    config = TrainConfig(architecture="seq2seq", epochs=1, hidden=8, static_hidden=4, market_dropout=1.0)
    data = prepare(forecast_panel, config)
    model = train_model(data, config)
    with_market, _ = model.predict(data.test)
    np.testing.assert_array_equal(with_market, model.predict(data.test.without_market())[0])


def test_the_served_band_takes_the_recent_widening_of_its_date_and_keeps_it_when_stored(trained, bundled, tmp_path):
    """fit_forecaster calibrates the band's recent widening on the validation films' known outcomes
    (forecast.calibration); a forecast made after them gets the last margins, in PyTorch, from the
    stored model and from ONNX alike."""
    recent = trained.recent
    assert recent is not None and len(recent.weeks) > 52 and np.isfinite(recent.margins).all()
    assert np.ptp(recent.margins, axis=0).max() > 0  # it does change with the date
    _, market, _ = bundled
    later_year = same_calendar_year(2010, after=market.table["date"].max().year + 1)
    windows = build_windows(panel_of(bundled, FILMS[0], market, to_year=later_year), origins=(2, 8)).with_prior(trained.pooled)
    assert (forecast_dates(windows.origin_week_start) > recent.weeks[-1]).all()
    served = trained.predict(windows)[0]
    trained.recent = None
    try:
        fixed = trained.predict(windows)[0]
    finally:
        trained.recent = recent
    unclipped = fixed[..., 0] - recent.margins[-1] < fixed[..., 1]
    assert np.allclose(served[..., 0][unclipped], (fixed[..., 0] - recent.margins[-1])[unclipped], atol=1e-5)
    assert np.allclose(served[..., 1], fixed[..., 1])
    save_model(trained, tmp_path / "seq2seq.parquet")
    export_onnx(trained, tmp_path / "seq2seq.onnx")
    assert np.allclose(load_model(tmp_path / "seq2seq.parquet")[0].predict(windows)[0], served, atol=1e-4)
    assert np.allclose(OnnxForecaster(tmp_path / "seq2seq.onnx").predict(windows)[0], served, atol=1e-3)
    state, meta, metrics = read_weights(tmp_path / "seq2seq.parquet")
    meta["recent_calibration"]["horizons"] = 2  # margins that do not fit the model's four weeks
    write_weights(tmp_path / "damaged.parquet", state, meta, metrics)
    with pytest.raises(ModelError, match="recent calibration has 2 horizons"):
        load_model(tmp_path / "damaged.parquet")


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_market_dropout_outside_0_to_1_is_refused(share):
    with pytest.raises(ValueError, match="market_dropout is .* between 0 and 1"):
        TrainConfig(market_dropout=share)
