"""The split-conformal margin: the one calibration of bands that the weekly forecaster and the final total share."""

import numpy as np
import pytest

from cineseq_assets.forecast.metrics import conformal_margin, interval_coverage


def test_the_margin_brings_a_too_narrow_band_to_its_coverage_on_new_draws():
    rng = np.random.default_rng(0)
    calibration, new = rng.standard_t(4, size=2000), rng.standard_t(4, size=20000)
    band = (-0.3, 0.3)  # far too narrow for these errors
    margin = conformal_margin(np.full(2000, band[0]), np.full(2000, band[1]), calibration, 0.8)
    assert margin > 0
    covered = interval_coverage(np.full(20000, band[0] - margin), np.full(20000, band[1] + margin), new)
    assert covered == pytest.approx(0.8, abs=0.015)


def test_a_too_wide_band_is_narrowed_and_an_empty_calibration_set_leaves_it():
    actual = np.linspace(-1, 1, 101)
    assert conformal_margin(np.full(101, -5.0), np.full(101, 5.0), actual, 0.8) < 0
    assert conformal_margin(np.array([]), np.array([]), np.array([]), 0.8) == 0.0


def test_the_finite_sample_level_covers_at_least_the_nominal_share_of_the_calibration_points():
    actual = np.arange(10.0)  # scores 0..9 against a band [0, 0]
    margin = conformal_margin(np.zeros(10), np.zeros(10), actual, 0.8)
    assert margin == pytest.approx(8.1)  # level ceil(11 x 0.8) / 10 = 0.9 of scores 0..9, not the plain 0.8 (7.2)
