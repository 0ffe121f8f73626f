"""Whole-set diagnostics: fixed-effects slope vs dummy-variable OLS, group summaries, shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from cineseq_assets.decay.diagnostics import (
    FE_COLUMNS,
    SUMMARY_COLUMNS,
    group_summary,
    pooled_fixed_effects,
    share_well_explained,
)

INCEPTION = "rl2908456449"
GRAND_BUDAPEST = "rl475497985"


def fixture_panel(weekly: pd.DataFrame, films: pd.DataFrame) -> pd.DataFrame:
    usable = weekly[weekly["usable"]]
    return usable.merge(films[["film_id", "release_width"]], on="film_id")[
        ["film_id", "week", "gross", "release_width"]
    ]


def dummy_variable_fit(panel: pd.DataFrame):
    data = panel.assign(log_gross=np.log(panel["gross"]))
    return smf.ols("log_gross ~ week + C(film_id)", data=data).fit()


def scope_row(table: pd.DataFrame, scope: str) -> pd.Series:
    return table.set_index("scope").loc[scope]


# --- pooled fixed effects ------------------------------------------------------------------------


def test_fixed_effects_equal_dummy_variable_ols_on_real_films(weekly, films):
    panel = fixture_panel(weekly, films)
    table = pooled_fixed_effects(panel)
    assert list(table.columns) == FE_COLUMNS
    assert list(table["scope"]) == ["all", "wide", "limited"]
    for scope, subset in [("all", panel), ("wide", panel[panel["release_width"] == "wide"]),
                          ("limited", panel[panel["release_width"] == "limited"])]:
        dummies = dummy_variable_fit(subset)
        fe = scope_row(table, scope)
        assert fe["slope"] == pytest.approx(dummies.params["week"], rel=1e-9), scope
        assert fe["se"] == pytest.approx(dummies.bse["week"], rel=1e-9), scope
        assert fe["n_obs"] == len(subset) and fe["n_films"] == subset["film_id"].nunique()


def test_fixed_effects_equal_dummy_variable_ols_on_an_unbalanced_noisy_panel():
    rng = np.random.default_rng(11)
    frames = []
    for i, n_weeks in enumerate([3, 5, 8, 12, 20, 4, 9]):
        week = np.arange(1, n_weeks + 1)
        level, rate = rng.normal(15, 1.5), rng.normal(-0.5, 0.15)
        gross = np.exp(level + rate * week + rng.normal(0, 0.3, n_weeks))
        frames.append(pd.DataFrame({"film_id": f"f{i}", "week": week, "gross": gross,
                                    "release_width": "wide" if i % 2 else "limited"}))
    panel = pd.concat(frames, ignore_index=True)
    dummies = dummy_variable_fit(panel)
    fe = scope_row(pooled_fixed_effects(panel), "all")
    assert fe["slope"] == pytest.approx(dummies.params["week"], rel=1e-9)
    assert fe["se"] == pytest.approx(dummies.bse["week"], rel=1e-9)
    # Within R^2: the share of the variation around each film's own mean that the slope explains.
    demeaned_ssr = (dummies.resid**2).sum()
    log_gross = np.log(panel["gross"])
    within_tss = ((log_gross - log_gross.groupby(panel["film_id"]).transform("mean")) ** 2).sum()
    assert fe["within_r2"] == pytest.approx(1 - demeaned_ssr / within_tss, rel=1e-9)


def test_fixed_effects_recover_a_common_rate_exactly():
    panel = pd.DataFrame(
        [{"film_id": f"f{i}", "week": w, "gross": np.exp(10 + i - 0.4 * w), "release_width": "wide"}
         for i in range(5) for w in range(1, 9)]
    )
    fe = scope_row(pooled_fixed_effects(panel), "all")
    assert fe["slope"] == pytest.approx(-0.4, abs=1e-12)
    assert fe["weekly_retention"] == pytest.approx(np.exp(-0.4))
    assert fe["half_life_weeks"] == pytest.approx(np.log(2) / 0.4)
    assert fe["within_r2"] == pytest.approx(1.0)
    limited = scope_row(pooled_fixed_effects(panel), "limited")
    assert limited["n_films"] == 0 and np.isnan(limited["slope"])


def test_fixed_effects_drop_bad_weeks_singletons_and_unusable_rows():
    panel = pd.DataFrame({
        "film_id": ["a"] * 4 + ["b"] * 3 + ["c"],
        "week": [1, 2, 3, 4, 1, 2, 3, 1],
        "gross": [100.0, 50.0, 0.0, 12.5, 80.0, np.nan, 20.0, 5.0],
        "release_width": ["wide"] * 4 + ["limited"] * 3 + ["wide"],
        "usable": [True, True, True, False, True, True, True, True],
    })
    fe = scope_row(pooled_fixed_effects(panel), "all")
    # a: weeks 1-2 (week 3 has zero gross, week 4 is not usable); b: weeks 1 and 3; c: one week, dropped.
    assert fe["n_films"] == 2 and fe["n_obs"] == 4


# --- group summary -------------------------------------------------------------------------------


def synthetic_fits_and_films():
    fits = pd.DataFrame({
        "film_id": ["a", "b", "c", "d", "e"] * 2,
        "window": ["run"] * 5 + ["weeks_1_8"] * 5,
        "r2": [0.95, 0.80, 0.99, np.nan, 0.91, 0.97, 0.50, 0.98, np.nan, 0.85],
        "half_life_weeks": [1.0, 2.0, np.inf, np.nan, 3.0, 1.5, np.inf, 0.8, np.nan, 2.5],
    })
    films = pd.DataFrame({
        "film_id": ["a", "b", "c", "d", "e"],
        "genres": ["Action|Adventure", "Drama|Drama", None, "Action", ""],
        "showcase": [True, False, True, False, None],
        "release_date": pd.to_datetime(["2010-07-16", "2014-03-07", "2010-12-25", "2019-04-26", "2011-10-07"]),
        "opening_theaters": [3792, 4, 3000, 4662, np.nan],
    })
    return fits, films


def summary_row(summary: pd.DataFrame, grouping: str, group: str, window: str = "run") -> pd.Series:
    match = summary[(summary["grouping"] == grouping) & (summary["group"] == group) & (summary["window"] == window)]
    assert len(match) == 1, (grouping, group, window)
    return match.iloc[0]


def test_group_summary_counts_films_once_per_genre_and_skips_unfitted():
    summary = group_summary(*synthetic_fits_and_films())
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert summary_row(summary, "all", "all")["n_films"] == 4  # d has no fit
    assert summary_row(summary, "genre", "Action")["n_films"] == 1  # only a: d is unfitted
    assert summary_row(summary, "genre", "Drama")["n_films"] == 1  # "Drama|Drama" counts once
    assert summary_row(summary, "genre", "Unknown")["n_films"] == 2  # None and ""
    assert summary_row(summary, "showcase", "showcase")["n_films"] == 2
    assert summary_row(summary, "release_width", "wide")["n_films"] == 2
    assert summary_row(summary, "release_width", "limited")["n_films"] == 1
    assert summary_row(summary, "release_width", "Unknown")["n_films"] == 1
    assert summary_row(summary, "release_year", "2010")["n_films"] == 2
    assert list(summary["grouping"].unique()) == ["all", "showcase", "release_width", "genre", "release_year"]


def test_group_summary_quantiles():
    summary = group_summary(*synthetic_fits_and_films())
    overall = summary_row(summary, "all", "all")
    r2 = pd.Series([0.95, 0.80, 0.99, 0.91])
    assert overall["r2_median"] == pytest.approx(r2.median())
    assert overall["r2_q25"] == pytest.approx(r2.quantile(0.25))
    assert overall["r2_q75"] == pytest.approx(r2.quantile(0.75))
    assert overall["share_r2_ge_0_9"] == pytest.approx(0.75)
    # Half-lives 1, 2, 3 and inf: the median lies between 2 and 3 on the rate scale (ln2/h),
    # i.e. the half-life with the mean of the two middle rates.
    assert overall["half_life_median"] == pytest.approx(1 / ((1 / 2 + 1 / 3) / 2))
    # a (1 week) and c (inf): rates ln2 and 0, quartiles interpolated between them.
    wide = summary_row(summary, "release_width", "wide")
    assert wide["half_life_median"] == pytest.approx(2.0)
    assert wide["half_life_q25"] == pytest.approx(4 / 3)
    assert wide["half_life_q75"] == pytest.approx(4.0)
    rising = summary_row(summary, "release_width", "limited", "weeks_1_8")  # b only, half-life inf
    assert rising["half_life_median"] == np.inf and rising["half_life_q25"] == np.inf


def test_group_summary_half_life_matches_plain_quantiles_when_all_finite_and_odd():
    fits = pd.DataFrame({"film_id": list("abcde"), "window": "run", "r2": 0.9,
                         "half_life_weeks": [0.7, 1.1, 1.6, 2.4, 9.0]})
    films = pd.DataFrame({"film_id": list("abcde"), "genres": "Drama", "showcase": False,
                          "release_date": pd.Timestamp("2015-01-01"), "opening_theaters": 3000})
    overall = summary_row(group_summary(fits, films), "all", "all")
    assert overall["half_life_median"] == pytest.approx(1.6)
    assert overall["half_life_q25"] == pytest.approx(1.1)
    assert overall["half_life_q75"] == pytest.approx(2.4)


def test_group_summary_on_real_films(fits, films):
    summary = group_summary(fits, films)
    wide = summary_row(summary, "release_width", "wide", "weeks_1_8")
    limited = summary_row(summary, "release_width", "limited", "weeks_1_8")
    assert wide["n_films"] == 3 and limited["n_films"] == 2
    assert wide["r2_median"] > 0.9 > limited["r2_median"]
    assert summary_row(summary, "genre", "Action")["n_films"] == 3
    assert summary_row(summary, "genre", "Unknown")["n_films"] == 1  # RBG has no genres
    assert summary_row(summary, "showcase", "showcase")["n_films"] == 2


def test_share_well_explained():
    fits, _ = synthetic_fits_and_films()
    assert share_well_explained(fits) == pytest.approx(3 / 4)
    assert share_well_explained(fits, "weeks_1_8") == pytest.approx(2 / 4)
    assert share_well_explained(fits, "weeks_1_8", threshold=0.8) == pytest.approx(3 / 4)
    assert np.isnan(share_well_explained(fits, "no_such_window"))
