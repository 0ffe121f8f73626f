"""The band's recent calibration: margins by date from the outcomes known by then, and nothing later."""

from types import SimpleNamespace

import numpy as np
import pytest

from cineseq_assets.forecast.calibration import MIN_OUTCOMES, Outcomes, RecentCalibration, forecast_dates
from cineseq_assets.forecast.metrics import conformal_quantile, interval_coverage

START = np.datetime64("2015-01-05", "D")


def regime_outcomes(weeks: int = 200, per_week: int = 20, shift_week: int = 100, seed: int = 0) -> Outcomes:
    """One horizon; the band is right (scores of a unit-scale error against a +-1.28 band) until
    ``shift_week``, then errors triple in scale."""
    rng = np.random.default_rng(seed)
    week = np.repeat(np.arange(weeks), per_week)
    scale = np.where(week < shift_week, 1.0, 3.0)
    error = rng.standard_normal(week.size) * scale
    score = np.abs(error) - 1.2816
    return Outcomes(START + 7 * week, np.zeros(week.size, dtype=int), score)


def test_outcomes_are_known_once_their_target_week_has_ended_and_unobserved_weeks_have_none():
    origin = np.array(["2019-03-04", "2019-03-11"], dtype="datetime64[D]")
    quantiles = np.zeros((2, 2, 3))
    quantiles[..., 0], quantiles[..., 2] = -1.0, 1.0
    windows = SimpleNamespace(origin_week_start=origin, target=np.array([[0.5, 3.0], [-2.0, 0.0]]),
                              target_mask=np.array([[1, 1], [1, 0]]))
    outcomes = Outcomes.of(windows, quantiles)
    assert outcomes.known.tolist() == [np.datetime64("2019-03-11"), np.datetime64("2019-03-18"), np.datetime64("2019-03-18")]
    assert outcomes.horizon.tolist() == [0, 1, 0]
    assert outcomes.score.tolist() == [-0.5, 2.0, 1.0]  # inside by 0.5, outside by 2 and by 1
    assert forecast_dates(origin[:1])[0] == np.datetime64("2019-03-11")  # made when week t has ended


def test_after_a_regime_change_the_recent_margin_restores_the_coverage_a_fixed_band_loses():
    calibration = RecentCalibration.fit(regime_outcomes(per_week=100), horizons=1, recent_weeks=26)
    new = regime_outcomes(per_week=100, seed=1)
    dates = new.known - 7  # forecasts made a week before their outcome is known
    margins = calibration.at(dates)[:, 0]
    late = (dates - START) // 7 >= 100 + 26  # a half-year span of the new regime known
    early = ((dates - START) // 7 >= 26) & ((dates - START) // 7 < 100)
    errors_covered = new.score - margins <= 0
    assert (new.score[late] <= 0).mean() < 0.45  # the fixed band covers well under half of the new regime
    assert errors_covered[late].mean() == pytest.approx(0.8, abs=0.03)
    assert errors_covered[early].mean() == pytest.approx(0.8, abs=0.03)
    assert interval_coverage(-1.28 - margins[early], 1.28 + margins[early], np.zeros(early.sum())) == 1.0


def test_a_margin_reads_no_outcome_known_after_its_date_and_is_zero_without_enough_outcomes():
    outcomes = regime_outcomes()
    calibration = RecentCalibration.fit(outcomes, horizons=1)
    later = outcomes.known > START + 7 * 120
    altered = Outcomes(outcomes.known, outcomes.horizon, np.where(later, outcomes.score + 50.0, outcomes.score))
    changed = RecentCalibration.fit(altered, horizons=1)
    dates = START + 7 * np.arange(0, 121)
    assert np.array_equal(calibration.at(dates), changed.at(dates))
    assert calibration.at(START + 7 * np.arange(130, 200))[:, 0].max() < changed.at(START + 7 * np.arange(130, 200))[:, 0].max()
    first_day = START  # 20 outcomes known by then
    assert 20 < MIN_OUTCOMES
    assert calibration.at(np.array([START - 7, first_day]))[:, 0].tolist() == [0.0, 0.0]


def test_after_the_last_known_outcome_the_last_margins_hold_and_they_survive_a_round_trip():
    calibration = RecentCalibration.fit(regime_outcomes(), horizons=1)
    far = calibration.at(np.array(["2030-01-01"], dtype="datetime64[D]"))
    assert far[0, 0] == pytest.approx(calibration.margins[-1, 0]) and far[0, 0] > 0.5
    restored = RecentCalibration.from_dict(calibration.to_dict())
    dates = START + np.arange(0, 1500, 3)
    assert np.allclose(restored.at(dates), calibration.at(dates), atol=1e-5)
    empty = RecentCalibration.fit(Outcomes(np.zeros(0, "datetime64[D]"), np.zeros(0, int), np.zeros(0)), horizons=4)
    assert RecentCalibration.from_dict(empty.to_dict()).at(dates[:3]).shape == (3, 4)


def test_a_span_with_too_few_outcomes_reaches_back_for_the_latest_ones():
    outcomes = regime_outcomes(per_week=5)  # 5 a week: 4 weeks hold 20, fewer than MIN_OUTCOMES
    calibration = RecentCalibration.fit(outcomes, horizons=1, recent_weeks=4)
    day = START + 7 * 150
    known = outcomes.known <= day
    latest = outcomes.score[known][np.argsort(outcomes.known[known], kind="stable")][-MIN_OUTCOMES:]
    assert calibration.at(np.array([day]))[0, 0] == pytest.approx(conformal_quantile(latest, 0.8))
