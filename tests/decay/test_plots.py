"""Charts: each returns a PNG that decodes at the expected size, including on degenerate inputs."""

from __future__ import annotations

import io

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from cineseq_assets.decay import plots
from cineseq_assets.decay.fits import fit_film_decay
from cineseq_assets.plotting import DPI

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
INCEPTION = "rl2908456449"
GRAND_BUDAPEST = "rl475497985"


def decoded(png: bytes) -> np.ndarray:
    assert isinstance(png, bytes) and png.startswith(PNG_SIGNATURE)
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    return image


def assert_size(png: bytes, width_in: float, height_in: float) -> np.ndarray:
    image = decoded(png)
    assert image.shape[:2] == (round(height_in * DPI), round(width_in * DPI))
    assert image[..., :3].std() > 0.01  # something was drawn, not a blank canvas
    return image


def fit_row(fits: pd.DataFrame, film_id: str, window: str) -> pd.Series:
    return fits[(fits["film_id"] == film_id) & (fits["window"] == window)].iloc[0]


@pytest.mark.parametrize("window", ["run", "weeks_1_8"])
def test_r2_histogram(fits, window):
    assert_size(plots.r2_histogram(fits, window), 7, 4.5)


def test_r2_histogram_with_no_fits(fits):
    assert_size(plots.r2_histogram(fits.iloc[0:0], "run"), 7, 4.5)


def test_half_life_by_genre(fits, films):
    assert_size(plots.half_life_by_genre(fits, films), 10, 5.5)


def test_half_life_by_genre_with_many_genres_missing_genres_and_rising_films():
    rng = np.random.default_rng(2)
    n = 60
    fits = pd.DataFrame({"film_id": [f"f{i}" for i in range(n)], "window": "run", "r2": 0.9,
                         "half_life_weeks": np.where(np.arange(n) % 10 == 0, np.inf, rng.uniform(0.5, 20, n))})
    genres = [f"Genre{i % 15}|Genre{(i + 3) % 15}" if i % 7 else None for i in range(n)]
    films = pd.DataFrame({"film_id": fits["film_id"], "genres": genres})
    assert_size(plots.half_life_by_genre(fits, films), 10, 5.5)
    films_without_genres = films.drop(columns="genres")
    assert_size(plots.half_life_by_genre(fits, films_without_genres), 10, 5.5)


def test_film_fit_plot_wide_and_platform(weekly, fits):
    for film_id, window in [(INCEPTION, "run"), (GRAND_BUDAPEST, "weeks_1_8")]:
        weeks = weekly[weekly["film_id"] == film_id]
        assert_size(plots.film_fit_plot(weeks, fit_row(fits, film_id, window), f"{film_id} {window}"), 12, 4.5)


def test_film_fit_plot_accepts_a_dict_row_and_a_film_without_correlogram():
    weeks = pd.DataFrame({"week": [1, 2, 3], "gross": [3e6, 1.5e6, 0.8e6]})
    row = fit_film_decay(weeks, "short").iloc[0].to_dict()  # 3 weeks: fit, but no ACF lags
    assert row["acf"] == []
    assert_size(plots.film_fit_plot(weeks, row, "Three-week film"), 12, 4.5)


def test_film_fit_plot_with_no_fit():
    weeks = pd.DataFrame({"week": [1, 2], "gross": [3e6, 0.0]})
    row = fit_film_decay(weeks, "no fit").iloc[0]
    assert_size(plots.film_fit_plot(weeks, row, "No fit"), 12, 4.5)


def test_r2_by_width(fits, films):
    assert_size(plots.r2_by_width(fits, films), 8, 5)


def test_r2_by_width_with_one_width_only(fits, films):
    wide_only = films.assign(release_width="wide")
    assert_size(plots.r2_by_width(fits, wide_only), 8, 5)
    by_theaters = films.drop(columns="release_width")  # falls back to opening theaters
    assert_size(plots.r2_by_width(fits, by_theaters), 8, 5)


def test_plots_leave_no_pyplot_figures_open(fits, films):
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    plots.r2_histogram(fits, "run")
    plots.r2_by_width(fits, films)
    assert len(plt.get_fignums()) == before
