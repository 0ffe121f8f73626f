"""Integrated Gradients of the p50 forecast: completeness, masked weeks, tables and the plot."""

import dataclasses
import logging

import numpy as np
import pytest

from cineseq_assets.forecast.attributions import (
    ATTENTION_COLUMNS,
    ATTRIBUTION_COLUMNS,
    IMPORTANCE_COLUMNS,
    attribution_table,
    explain,
    global_importance,
    importance_figure,
    integrated_gradients,
    live_windows,
)
from cineseq_assets.forecast.features import MARKET_DECODER_FEATURES, MARKET_ENCODER_FEATURES
from cineseq_assets.forecast.windows import DECODER_MARKET, ENCODER_MARKET
from cineseq_assets.plotting import to_png

ARCHITECTURES = ["seq2seq", "seq2seq_attention"]


@pytest.fixture(scope="module")
def attributed(tiny_models) -> dict:
    """architecture -> (TrainedModel, test windows, Attributions); test windows include short histories."""
    return {architecture: (trained, data.test, integrated_gradients(trained, data.test))
            for architecture, (trained, data) in tiny_models.items()}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_attributions_add_up_to_the_forecast_minus_the_baseline(attributed, architecture):
    trained, windows, result = attributed[architecture]
    difference = result.forecast - result.baseline_forecast
    assert np.all(np.abs(result.total() - difference) <= 0.01 + 0.01 * np.abs(difference))
    assert result.converged.all()
    np.testing.assert_allclose(result.delta, result.total() - difference, atol=1e-5)  # Captum's delta is that gap
    assert np.abs(difference).max() > 0.05  # the check is not vacuous
    network = dataclasses.replace(trained, booster=None)  # the network is explained, not the booster blended in
    p50 = network.predict(windows)[0][..., 1]  # the conformal widening leaves p50 alone
    np.testing.assert_allclose(result.forecast, p50, atol=1e-5)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_padded_weeks_and_later_decoder_steps_get_exactly_zero(attributed, architecture):
    _, windows, result = attributed[architecture]
    padded = windows.encoder_mask == 0
    assert padded.any()
    assert np.all(result.encoder.transpose(0, 2, 1, 3)[padded] == 0.0)
    # Horizon h cannot depend on the decoder inputs of later weeks.
    for h in range(4):
        assert np.all(result.decoder[:, h, h + 1:, :] == 0.0)
        assert np.abs(result.decoder[:, h, h, :]).max() > 0
    table = attribution_table(result)
    encoder = table[table["block"] == "encoder"]
    observed = dict(zip(zip(windows.film_id, windows.origin), windows.encoder_mask.sum(axis=1)))
    limit = [observed[key] for key in zip(encoder["film_id"], encoder["origin_week"])]
    assert (encoder["step"].to_numpy() < np.array(limit)).all()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_inputs_the_model_never_reads_get_exactly_zero(attributed, architecture):
    trained, _, result = attributed[architecture]
    assert trained.train_config.market_dropout == 1  # the served default: the market context is never read
    assert np.all(result.encoder[..., ENCODER_MARKET] == 0.0) and np.all(result.decoder[..., DECODER_MARKET] == 0.0)
    table = attribution_table(result)
    market = table["feature"].isin(MARKET_ENCODER_FEATURES + MARKET_DECODER_FEATURES)
    assert market.any() and (table.loc[market, "attribution"] == 0.0).all()


def test_long_table_layout(attributed):
    trained, windows, result = attributed["seq2seq"]
    table = attribution_table(result)
    assert list(table.columns) == ATTRIBUTION_COLUMNS
    assert set(table["block"]) == {"encoder", "decoder", "static"}
    assert set(table["horizon"]) == {1, 2, 3, 4}
    static = table[table["block"] == "static"]
    assert (static["step"] == -1).all() and len(static) == len(windows) * 4 * len(trained.schema.static)
    assert set(table.loc[table["block"] == "decoder", "step"]) == {1, 2, 3, 4}
    one = table[(table["film_id"] == windows.film_id[0]) & (table["origin_week"] == windows.origin[0])
                & (table["horizon"] == 2)]
    assert one["attribution"].sum() == pytest.approx(result.total()[0, 1], abs=1e-4)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_global_importance_shares_sum_to_one(attributed, architecture):
    trained, _, result = attributed[architecture]
    importance = global_importance(result)
    assert list(importance.columns) == IMPORTANCE_COLUMNS
    schema = trained.schema
    assert len(importance) == len(schema.encoder) + len(schema.decoder) + len(schema.static)
    assert importance["share"].sum() == pytest.approx(1.0)
    assert importance["mean_abs_attribution"].is_monotonic_decreasing
    assert (importance["share"] >= 0).all()


def test_importance_plot_renders_to_png(attributed):
    importance = global_importance(attributed["seq2seq_attention"][2])
    png = to_png(importance_figure(importance, top=12))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


def test_failed_convergence_is_reported(attributed, caplog):
    trained, windows, _ = attributed["seq2seq_attention"]
    with caplog.at_level(logging.WARNING, logger="cineseq_assets.forecast.attributions"):
        coarse = integrated_gradients(trained, windows, n_steps=1, rtol=0.0, atol=1e-6)
    assert not coarse.converged.all()
    assert f"{int((~coarse.converged).sum())} of {coarse.converged.size}" in caplog.text
    assert (~attribution_table(coarse)["converged"]).any()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_explain_live_windows(tiny_models, forecast_panel, architecture):
    trained, _ = tiny_models[architecture]
    films = forecast_panel[forecast_panel["film_id"].isin(forecast_panel["film_id"].unique()[:8])]
    windows = live_windows(trained, films)
    assert len(windows) == 8 and windows.target_mask.sum() == 0  # the live forecasts: nothing observed yet
    tables = explain(trained, films, n_steps=16)
    assert set(tables["attributions"].groupby("film_id")["origin_week"].unique().map(len)) == {1}
    attention = tables["attention"]
    assert list(attention.columns) == ATTENTION_COLUMNS
    if architecture == "seq2seq_attention":
        sums = attention.groupby(["film_id", "horizon"])["weight"].sum()
        assert len(sums) == 8 * 4 and np.allclose(sums, 1.0, atol=1e-5)
    else:
        assert attention.empty
