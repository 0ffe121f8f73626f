"""The gradient-boosted part of the served forecaster: leakage-safe inputs, the blend, storage without pickle."""

import numpy as np
import pytest

from cineseq_assets.errors import ModelError
from cineseq_assets.forecast import boosting
from cineseq_assets.forecast.boosting import Booster, blend, choose_weight
from cineseq_assets.forecast.store import load_model, save_model
from cineseq_assets.forecast.windows import build_windows


def test_features_at_origin_t_read_nothing_after_week_t(forecast_panel):
    film = forecast_panel.groupby("film_id")["week"].max().idxmax()
    rows = forecast_panel[forecast_panel["film_id"] == film]
    t = 5
    full = build_windows(rows, origins=(t, t))
    cut = build_windows(rows[rows["week"] <= t + 1], origins=(t, t))  # weeks after t + 1 gone
    changed = rows.copy()
    later = changed["week"] > t
    changed.loc[later, ["gross", "theaters"]] *= 3  # what happens after t must not matter
    for column in [c for c in changed if c.startswith("day_gross_")]:
        changed.loc[later, column] *= 3
    altered = build_windows(changed, origins=(t, t))
    expected = boosting.features(full)  # every horizon
    np.testing.assert_array_equal(boosting.features(cut), expected)
    np.testing.assert_array_equal(boosting.features(altered), expected)
    assert boosting.features(full).shape == (4, 1, len(boosting.FEATURES))


def test_unknown_market_is_missing_not_zero(tiny_models):
    _, data = tiny_models["seq2seq"]
    hidden = boosting.features(data.test.without_market())[0]
    market = [boosting.FEATURES.index(name) for name in ("last_log_market_gross", "target_log_wide_openings")]
    assert np.isnan(hidden[:, market]).all()
    known = boosting.features(data.test)[0]
    assert np.isfinite(known[:, market[0]]).any()


def test_blend_moves_the_band_with_the_median():
    quantiles = np.array([[[1.0, 2.0, 3.0]]])
    blend(quantiles, np.array([[4.0]]), 0.5)
    np.testing.assert_allclose(quantiles, [[[2.0, 3.0, 4.0]]])


def test_the_blend_weight_is_the_best_on_validation_and_zero_is_a_candidate(tiny_models):
    trained, data = tiny_models["seq2seq"]
    scores = trained.blend_scores
    assert 0.0 in scores and trained.blend_weight in scores
    assert scores[trained.blend_weight] == min(scores.values())
    network = np.repeat(data.validation.target[..., None], 3, axis=-1)  # a perfect network
    weight, _ = choose_weight(network, trained.booster.predict(data.validation), data.validation)
    assert weight == 0.0


def test_stored_forecaster_reloads_its_booster_and_forecasts_the_same(tmp_path, tiny_models):
    trained, data = tiny_models["seq2seq_attention"]
    assert trained.booster is not None
    weights = save_model(trained, tmp_path / "seq2seq_attention.parquet")
    text = tmp_path / f"seq2seq_attention{boosting.SUFFIX}"
    assert text.read_text().startswith("tree")  # LightGBM's own text format, no pickle
    loaded, _ = load_model(weights)
    assert loaded.blend_weight == trained.blend_weight
    np.testing.assert_allclose(loaded.predict(data.test)[0], trained.predict(data.test)[0], atol=1e-5)
    np.testing.assert_array_equal(loaded.booster.predict(data.test), trained.booster.predict(data.test))


def test_a_booster_from_another_run_or_none_at_all_is_refused(tmp_path, tiny_models):
    trained, data = tiny_models["seq2seq"]
    weights = save_model(trained, tmp_path / "m.parquet")
    Booster.fit(data.train, seed=1).save(tmp_path / f"m{boosting.SUFFIX}")  # a leftover of another training run
    with pytest.raises(ModelError, match="another training run"):
        load_model(weights)
    (tmp_path / f"m{boosting.SUFFIX}").unlink()
    with pytest.raises(ModelError, match="missing"):
        load_model(weights)


def test_booster_alone_forecasts_every_window(tiny_models):
    _, data = tiny_models["seq2seq"]
    booster = Booster.fit(data.train, seed=0)
    p50 = booster.predict(data.test)
    assert p50.shape == data.test.target.shape and np.isfinite(p50).all()
    assert booster.predict(data.test.subset(slice(0, 0))).shape == (0, 4)


def test_window_weights_pull_the_booster_toward_the_windows_they_favour(tiny_models):
    _, data = tiny_models["seq2seq"]
    train = data.train
    observed = train.target_mask > 0
    change = np.where(observed, train.target - train.last_log_gross[:, None], 0.0).sum(1) / np.maximum(observed.sum(1), 1)
    held_best = observed.any(1) & (change > np.median(change[observed.any(1)]))
    equal = Booster.fit(train)
    favoured = Booster.fit(train, window_weight=np.where(held_best, 1.0, 1e-3))

    def mean_change(booster):
        return float(np.mean(booster.predict(train) - train.last_log_gross[:, None]))

    assert mean_change(favoured) > mean_change(equal) + 0.1
