"""The final domestic total: gross to date + the 4-week forecast + a tail, against the multiplier rule of thumb."""

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.boxoffice.bundled import load_bundled
from cineseq_assets.forecast.decay_prior import PooledRetention
from cineseq_assets.forecast.final_total import (
    BASELINE,
    METHODS,
    TAILS,
    FinalTotalModel,
    RunMultipliers,
    final_totals,
    fit_final_total,
    gross_to_date,
    score_totals,
    total_forecasts,
    window_totals,
)


@pytest.fixture(scope="module")
def totals(forecast_panel):
    return final_totals(forecast_panel, load_bundled().films)


@pytest.fixture(scope="module")
def fitted(tiny_models, forecast_panel, totals):
    trained, data = tiny_models["seq2seq"]
    return fit_final_total(trained, forecast_panel, data.split, totals)


def test_true_totals_are_the_catalog_totals_and_at_least_the_panel_weeks(forecast_panel, totals):
    panel_sums = final_totals(forecast_panel)
    assert set(totals.index) == set(panel_sums.index)
    assert (totals >= panel_sums.reindex(totals.index) - 1).all()


def test_gross_to_date_is_the_cumulative_gross_and_stays_flat_after_the_run(forecast_panel):
    film = forecast_panel[forecast_panel["film_id"] == forecast_panel["film_id"].iloc[0]].sort_values("week")
    weeks = film["week"].to_numpy()
    film_id = np.full(len(weeks) + 2, str(film["film_id"].iloc[0]))
    cum = gross_to_date(forecast_panel, film_id, np.r_[weeks, weeks.max() + 1, weeks.max() + 5])
    assert np.allclose(cum[: len(weeks)], film["gross"].cumsum().to_numpy(), rtol=1e-6)
    assert cum[-1] == cum[-2] == cum[len(weeks) - 1]


def test_multipliers_are_ordered_fall_with_the_week_of_run_and_survive_a_round_trip(forecast_panel, totals):
    multipliers = RunMultipliers.fit(forecast_panel, totals)
    for width in ("wide", "limited", "all"):
        table = np.asarray(multipliers.table[width])
        assert (np.diff(table, axis=1) >= 0).all() and (table >= 1 - 1e-9).all()
        assert table[0, 1] > table[5, 1] >= table[-1, 1]
    assert RunMultipliers.from_dict(multipliers.to_dict()).table == multipliers.table


def test_the_rule_of_thumb_is_gross_to_date_times_the_training_multiplier(forecast_panel, totals):
    multipliers = RunMultipliers.fit(forecast_panel, totals)
    to_date, origin, wide = np.array([1e6, 2e6]), np.array([1, 3]), np.array([True, False])
    weekly = np.full((2, 4, 3), 1e5)
    out = total_forecasts(["a", "b"], origin, wide, to_date, weekly, PooledRetention.fit(forecast_panel),
                          FinalTotalModel(multipliers), methods=(BASELINE,))
    expected = to_date[:, None] * np.array([multipliers.table["wide"][0], multipliers.table["limited"][2]])
    assert np.allclose(out[["p10", "p50", "p90"]].to_numpy(), expected)


def test_every_model_total_adds_the_four_weeks_and_a_positive_tail(tiny_models, forecast_panel, fitted):
    trained, _ = tiny_models["seq2seq"]
    model, _ = fitted
    forecasts = window_totals(trained, model, forecast_panel, origins=(1, 8))
    assert set(forecasts["method"]) == set(METHODS)
    assert (forecasts["p10"] <= forecasts["p50"]).all() and (forecasts["p50"] <= forecasts["p90"]).all()
    for method in TAILS:
        rows = forecasts[forecasts["method"] == method]
        assert (rows["p50"] > rows["to_date"]).all(), method
    assert forecasts["origin_week"].between(1, 8).all()


def test_the_tail_is_chosen_on_validation_films_and_the_model_round_trips(fitted):
    model, scores = fitted
    assert model.tail in TAILS and model.tail == min(model.validation, key=model.validation.get)
    assert set(model.widening) == set(TAILS) and all(len(v) == 8 for v in model.widening.values())
    assert FinalTotalModel.from_dict(model.to_dict()) == model
    assert set(scores["method"]) == set(METHODS)


def test_scores_per_origin_week_count_films_and_coverage(tiny_models, forecast_panel, totals, fitted):
    trained, data = tiny_models["seq2seq"]
    model, _ = fitted
    test = forecast_panel[forecast_panel["film_id"].map(data.split).eq("test")]
    table = score_totals(window_totals(trained, model, test, origins=(1, 8)), totals)
    overall = table[table["origin_week"] == "all"].set_index("method")
    assert set(overall.index) == set(METHODS)
    assert overall["films"].nunique() == 1 and overall["films"].iloc[0] > 0
    assert table["coverage_80"].between(0, 1).all() and (table["wape"] >= 0).all()
    # a perfect forecast scores zero
    known = totals.iloc[:3].to_numpy()
    exact = pd.DataFrame({"film_id": totals.index[:3], "origin_week": 2, "method": "x", "p10": known, "p50": known, "p90": known})
    assert score_totals(exact, totals)["wape"].eq(0).all()
