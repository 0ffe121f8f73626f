"""The evaluation loops over forecasters that share one protocol: fit(prepared) -> self, predict(windows) -> [N, H, 3]."""

import logging

import numpy as np
import pytest

from cineseq_assets.forecast import baselines
from cineseq_assets.forecast.boosting import Booster
from cineseq_assets.forecast.evaluate import (
    BASELINES,
    FORECASTERS,
    MARKET_MASKED,
    NETWORKS,
    SERVED,
    SERVED_MARKET_MASKED,
    EvaluationConfig,
    evaluate,
)
from cineseq_assets.forecast.forecaster import Forecaster, PointForecaster
from cineseq_assets.forecast.metrics import grouped_errors
from cineseq_assets.forecast.predict import forecast_frame
from cineseq_assets.forecast.train import TrainConfig, prepare

TINY = TrainConfig(epochs=1, hidden=16, static_hidden=8, attention_hidden=8)


@pytest.fixture(scope="module")
def data(forecast_panel):
    return prepare(forecast_panel, TINY)


def test_every_model_the_evaluation_knows_is_a_forecaster():
    assert set(FORECASTERS) == set(BASELINES) | set(NETWORKS) | set(MARKET_MASKED) | set(SERVED) | set(SERVED_MARKET_MASKED)
    for name, make in FORECASTERS.items():
        assert isinstance(make(TINY), Forecaster), name


@pytest.mark.parametrize("name", BASELINES)
def test_baselines_fit_and_predict_their_point_forecast_as_the_p50(data, name):
    forecaster = FORECASTERS[name](TINY)
    assert isinstance(forecaster, PointForecaster)
    quantiles = forecaster.fit(data).predict(data.test)
    assert quantiles.shape == (*data.test.target.shape, 3)
    assert np.isnan(quantiles[..., [0, 2]]).all()  # a point forecast claims no interval
    expected = {"naive": lambda: baselines.naive(data.test),
                "pooled_decay": lambda: baselines.pooled_decay(data.test, data.pooled),
                "film_loglinear": lambda: baselines.film_loglinear(data.test, data.pooled),
                "decay_prior": lambda: baselines.prior(data.test),
                "gradient_boosting": lambda: Booster.fit(data.train, TINY.seed, market_dropout=TINY.market_dropout).predict(
                    data.test)}[name]()
    np.testing.assert_array_equal(quantiles[..., 1], expected)


def test_a_network_forecasts_ordered_quantiles_and_reports_its_training(data):
    network = FORECASTERS["seq2seq"](TINY).fit(data)
    quantiles = network.predict(data.test)
    assert quantiles.shape == (*data.test.target.shape, 3) and np.isfinite(quantiles).all()
    assert (quantiles[..., 0] <= quantiles[..., 1]).all() and (quantiles[..., 1] <= quantiles[..., 2]).all()
    assert network.fit_report()["epochs"] == 1 and network.config.architecture == "seq2seq"


def test_evaluate_scores_every_model_per_split_and_seed(forecast_panel):
    config = EvaluationConfig(seeds=(0,), split_kinds=("by_film",), networks=("seq2seq",),
                              baselines=("naive", "decay_prior"), train=TINY)
    result = evaluate(forecast_panel, config, progress=lambda message: None)
    assert set(result.forecasts["model"]) == {"naive", "decay_prior", "seq2seq"}
    assert list(result.runs["model"]) == ["naive", "decay_prior", "seq2seq"]
    assert result.runs["seconds"].ge(0).all() and result.runs["predict_seconds"].ge(0).all()
    errors = grouped_errors(result.forecasts, extra_keys=["split_kind", "model", "seed"])
    assert errors.equals(result.errors)
    overall = result.summary("by_film").set_index("model")
    assert np.isnan(overall.loc["naive", "coverage_80_mean"]) and 0 <= overall.loc["seq2seq", "coverage_80_mean"] <= 1
    # the naive forecast scored through the loop is the naive baseline on the test windows
    data = prepare(forecast_panel, TINY)
    naive = forecast_frame(data.test, FORECASTERS["naive"](TINY).predict(data.test), "test").dropna(subset=["actual"])
    looped = result.forecasts[result.forecasts["model"] == "naive"].drop(columns=["split_kind", "seed", "model"])
    np.testing.assert_array_equal(looped["p50"].to_numpy(), naive["p50"].to_numpy())


def test_a_forecaster_without_its_package_is_skipped_with_a_warning(forecast_panel, monkeypatch, caplog):
    class NeedsAbsentPackage(baselines.Naive):
        requires = ("no_such_package_for_cineseq",)

    monkeypatch.setitem(FORECASTERS, "absent", NeedsAbsentPackage)
    config = EvaluationConfig(seeds=(0,), split_kinds=("by_film",), networks=(), baselines=("naive", "absent"), train=TINY)
    with caplog.at_level(logging.WARNING):
        result = evaluate(forecast_panel, config, progress=lambda message: None)
    assert set(result.forecasts["model"]) == {"naive"} and "absent skipped" in caplog.text


def test_an_unknown_model_name_lists_the_known_ones(forecast_panel):
    config = EvaluationConfig(seeds=(0,), split_kinds=("by_film",), networks=("seq2seq_typo",), baselines=(), train=TINY)
    with pytest.raises(ValueError, match="unknown model 'seq2seq_typo'; choose from naive"):
        evaluate(forecast_panel, config, progress=lambda message: None)


def test_evaluate_also_scores_with_the_market_unknown(forecast_panel):
    masked = next(iter(MARKET_MASKED))
    config = EvaluationConfig(seeds=(0,), split_kinds=("by_film",), networks=("seq2seq", masked),
                              baselines=("decay_prior",), train=TINY, unknown_market=True)
    result = evaluate(forecast_panel, config, progress=lambda message: None)
    assert set(result.forecasts["model"]) == {"decay_prior", "decay_prior@no_market", "seq2seq", "seq2seq@no_market",
                                              masked, f"{masked}@no_market"}
    p50 = result.forecasts.pivot_table(index=["film_id", "origin_week", "horizon"], columns="model", values="p50")
    np.testing.assert_array_equal(p50["decay_prior"], p50["decay_prior@no_market"])  # the prior reads no market
    np.testing.assert_array_equal(p50["seq2seq"], p50["seq2seq@no_market"])  # nor does the default network
    assert not np.allclose(p50[masked], p50[f"{masked}@no_market"])  # one trained with the market masked does


def test_served_is_what_forecast_model_serves_the_architecture_with_the_lower_validation_wape(data):
    from cineseq_assets.forecast.train import served_validation_wape

    served = FORECASTERS["served"](TINY).fit(data)
    report = served.fit_report()
    assert served.trained.booster is not None and report["architecture"] == served.trained.architecture
    other = FORECASTERS["seq2seq" if report["architecture"] == "seq2seq_attention" else "seq2seq_attention"]
    assert served_validation_wape(served.trained) <= served.trained.blend_scores[0.0]  # no worse than its network alone
    assert other(TINY).config.boosting is False  # the networks alone are evaluated without the booster


def test_a_network_alone_taken_from_the_served_fit_is_the_network_trained_on_its_own(data):
    served = FORECASTERS["served"](TINY).fit(data)
    for architecture in ("seq2seq", "seq2seq_attention"):
        reused = served.network_alone(architecture, data)
        trained = FORECASTERS[architecture](TINY).fit(data)
        assert reused.config == trained.config and reused.trained.booster is None
        assert reused.trained.conformal == pytest.approx(trained.trained.conformal)
        np.testing.assert_allclose(reused.predict(data.test), trained.predict(data.test), rtol=1e-6)
        assert reused.fit_report() == trained.fit_report()
    # the served forecaster itself still blends its booster in
    assert served.trained.booster is not None


def test_evaluate_fits_what_serves_once_and_takes_its_networks_alone_from_it(forecast_panel, monkeypatch):
    from cineseq_assets.forecast import forecaster as forecaster_module

    trainings = []
    original = forecaster_module.fit_forecaster
    monkeypatch.setattr(forecaster_module, "fit_forecaster",
                        lambda data, config, **kwargs: trainings.append(config.architecture) or original(data, config, **kwargs))
    config = EvaluationConfig(seeds=(0,), split_kinds=("by_film",), networks=("seq2seq", "seq2seq_attention", "served"),
                              baselines=(), train=TINY)
    result = evaluate(forecast_panel, config, progress=lambda message: None)
    assert sorted(trainings) == ["seq2seq", "seq2seq_attention"]  # each architecture trained once, by the served fit
    assert list(result.runs["model"]) == ["served", "seq2seq", "seq2seq_attention"]
    networks = result.runs.set_index("model")
    assert "blend_weight" in networks.columns and np.isnan(networks.loc["seq2seq", "blend_weight"])
