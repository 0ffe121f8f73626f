"""Splits, scalers, baselines, training, the model store and metrics."""

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.errors import CineSeqError
from cineseq_assets.forecast import baselines
from cineseq_assets.forecast.decay_prior import PooledRetention
from cineseq_assets.forecast.metrics import error_table, grouped_errors
from cineseq_assets.forecast.models.common import pinball_loss
from cineseq_assets.forecast.predict import film_forecasts
from cineseq_assets.forecast.splits import SplitConfig, assign_splits
from cineseq_assets.forecast.store import latest_model_path, load_latest, load_model, model_folder, save_model
from cineseq_assets.forecast.train import TrainConfig, prepare


def test_splits_are_by_film_and_stratified(forecast_panel):
    split = assign_splits(forecast_panel)
    assert set(split) == {"train", "validation", "test"}
    assert split.index.is_unique and set(split.index) == set(forecast_panel["film_id"])
    late = assign_splits(forecast_panel, SplitConfig(kind="out_of_time", cutoff_year=2012))
    years = forecast_panel.drop_duplicates("film_id").set_index("film_id")["release_year"]
    assert (years[late[late == "test"].index] >= 2012).all()
    assert (years[late[late != "test"].index] < 2012).all()
    with pytest.raises(ValueError, match="unknown split kind"):
        assign_splits(forecast_panel, SplitConfig(kind="random"))


def test_scalers_and_pooled_statistics_see_training_films_only(forecast_panel):
    config = TrainConfig(epochs=1)
    data = prepare(forecast_panel, config)
    test_films = data.split[data.split == "test"].index
    # Multiply the test films' gross by 1000: a leak would move the scalers or the pooled retention.
    inflated = forecast_panel.copy()
    inflated.loc[inflated["film_id"].isin(test_films), "gross"] *= 1000
    again = prepare(inflated, config)
    assert again.scalers.to_dict() == data.scalers.to_dict()
    assert again.pooled.table == data.pooled.table
    assert not np.allclose(again.test.target, data.test.target)
    assert set(data.test.film_id).isdisjoint(data.train.film_id)
    assert set(data.validation.film_id).isdisjoint(data.train.film_id)


def test_evaluation_windows_use_origins_2_to_8(tiny_models):
    _, data = tiny_models["seq2seq"]
    assert data.test.origin.min() >= 2 and data.test.origin.max() <= 8
    assert data.train.origin.min() == 1


def test_pinball_loss_is_zero_only_on_target_and_ignores_masked_steps():
    import torch

    target = torch.tensor([[1.0, 2.0]])
    exact = target.unsqueeze(-1).repeat(1, 1, 3)
    mask = torch.tensor([[1.0, 0.0]])
    assert pinball_loss(exact, target, mask).item() == 0
    off = exact.clone()
    off[0, 1] += 5  # a masked step: ignored
    assert pinball_loss(off, target, mask).item() == 0
    off[0, 0, 1] += 1
    assert pinball_loss(off, target, mask).item() > 0


def test_training_improves_on_the_first_epoch_and_quantiles_are_ordered(tiny_models):
    for trained, data in tiny_models.values():
        quantiles, attention = trained.predict(data.test)
        assert (quantiles[..., 0] <= quantiles[..., 1]).all() and (quantiles[..., 1] <= quantiles[..., 2]).all()
        assert len(trained.history) == 2
        if trained.architecture == "seq2seq_attention":
            assert attention.shape == (len(data.test), 4, 8)
            np.testing.assert_allclose(attention.sum(axis=2), 1, atol=1e-5)
            assert (attention[data.test.encoder_mask[:, None, :].repeat(4, 1) == 0] < 1e-6).all()
        else:
            assert attention is None


def test_parquet_weight_round_trip(tiny_models, tmp_path):
    for architecture, (trained, data) in tiny_models.items():
        path = save_model(trained, tmp_path / f"{architecture}.parquet", {"validation_wape": 0.5})
        loaded, metrics = load_model(path)
        assert metrics == {"validation_wape": 0.5}
        assert loaded.conformal == pytest.approx(trained.conformal)
        before, after = trained.predict(data.test), loaded.predict(data.test)
        np.testing.assert_array_equal(before[0], after[0])
        # The file is a plain Parquet table: no pickled objects in it.
        table = pd.read_parquet(path)
        assert list(table.columns) == ["name", "shape", "dtype", "values"]


def test_latest_model_is_found_and_missing_model_explained(tiny_models, tmp_path):
    with pytest.raises(CineSeqError, match="no trained forecaster"):
        latest_model_path(tmp_path)
    trained, data = tiny_models["seq2seq"]
    save_model(trained, tmp_path / "forecast_model" / "seq2seq.parquet")
    model_folder(tmp_path).publish("seq2seq", chosen_by="test")
    loaded, _ = load_latest(tmp_path)
    assert loaded.architecture == "seq2seq"


def test_a_serving_file_of_an_older_version_says_to_materialize_again(tiny_models, tmp_path):
    trained, _ = tiny_models["seq2seq"]
    save_model(trained, tmp_path / "forecast_model" / "seq2seq.parquet")
    (tmp_path / "forecast_model" / "serving.json").write_text('{"architecture": "seq2seq", "chosen_by": "validation WAPE"}')
    expected = "older version of CineSeq .*'architecture'.*Materialize the forecast_model asset again"
    with pytest.raises(CineSeqError, match=expected):
        load_latest(tmp_path)


def test_film_forecasts_live_and_backtest(tiny_models, forecast_panel):
    trained, _ = tiny_models["seq2seq_attention"]
    film_id = forecast_panel["film_id"].iloc[0]
    film = forecast_panel[forecast_panel["film_id"] == film_id]
    table = film_forecasts(trained, film)
    live = table[table["kind"] == "live"]
    weeks = int(film["week"].max())
    assert list(live["week"]) == [weeks + 1, weeks + 2, weeks + 3, weeks + 4]
    assert live["actual"].isna().all()
    backtest = table[table["kind"] == "backtest"]
    assert sorted(backtest["origin_week"].unique()) == list(range(1, weeks))
    assert (table["p10"] <= table["p50"]).all() and (table["p50"] <= table["p90"]).all()


def test_baselines_on_real_windows(tiny_models):
    _, data = tiny_models["seq2seq"]
    test = data.test
    naive = baselines.naive(test)
    assert (naive == test.last_log_gross[:, None]).all()
    pooled = baselines.pooled_decay(test, data.pooled)
    assert (np.diff(pooled, axis=1) < 0).all()  # box office decays in every pooled week
    loglinear = baselines.film_loglinear(test, data.pooled)
    assert (np.diff(loglinear, axis=1) <= 1e-9).all()  # rising fits are held flat, never extrapolated up


def test_pooled_retention_is_fitted_per_width(forecast_panel):
    pooled = PooledRetention.fit(forecast_panel)
    assert set(pooled.table) == {"all", "wide", "limited"}
    # Wide releases lose more of their audience in week 2 than limited ones.
    assert pooled.table["wide"][0] < pooled.table["limited"][0]


def test_metrics_in_dollars():
    frame = pd.DataFrame({"actual": [100.0, 300.0], "p50": [110.0, 240.0], "p10": [90.0, 250.0], "p90": [120.0, 260.0],
                          "horizon": [1, 2], "origin_week": [2, 2], "release_width": ["wide", "wide"], "film_id": ["a", "b"]})
    errors = error_table(frame)
    assert errors["mae"] == 35 and errors["wape"] == pytest.approx(70 / 400)
    assert errors["rmse"] == pytest.approx(np.sqrt((100 + 3600) / 2))
    grouped = grouped_errors(frame)
    assert set(grouped["grouping"]) == {"overall", "horizon", "origin", "release_width", "film"}
    assert grouped.loc[grouped["grouping"] == "overall", "coverage_80"].item() == 0.5


def test_too_few_films_to_split_is_a_clear_error(forecast_panel):
    three = forecast_panel[forecast_panel["film_id"].isin(forecast_panel["film_id"].unique()[:3])]
    with pytest.raises(ValueError, match="left a split empty.*use more films"):
        prepare(three, TrainConfig())


def test_a_film_beyond_the_training_range_is_read_at_its_edge(tiny_models):
    from cineseq_assets.forecast.features import STATIC_FEATURES

    trained, data = tiny_models["seq2seq"]
    budget = STATIC_FEATURES.index("log_budget")
    later = data.test.subset([0])  # a copy: the fixture stays as it is
    latest = later.static.copy()
    latest[:, budget] = trained.scalers.static_range[1][budget]
    later.static[:, budget] = np.log(5e9)  # a budget above every training film's
    edge = trained.scalers.transform(later.__class__(**{**later.__dict__, "static": latest}))["static"]
    np.testing.assert_array_equal(trained.scalers.transform(later)["static"], edge)
    assert trained.scalers.from_dict(trained.scalers.to_dict()) == trained.scalers


def test_the_served_split_trains_on_the_test_films_and_keeps_the_validation_films(forecast_panel):
    evaluated = assign_splits(forecast_panel, SplitConfig())
    served = assign_splits(forecast_panel, SplitConfig(train_on_test=True))
    assert (served[evaluated == "validation"] == "validation").all()
    assert (served == "validation").sum() == (evaluated == "validation").sum()
    assert set(served[evaluated == "test"]) == {"train"} and "test" not in set(served)
    data = prepare(forecast_panel, TrainConfig(), SplitConfig(train_on_test=True))
    assert len(data.test) == 0 and data.test.encoder.shape[1:] == data.validation.encoder.shape[1:]
    assert set(data.train.film_id) == set(served.index[served == "train"])
