"""Daily chart rows -> weeks, on real Box Office Mojo rows and on edge cases."""

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.boxoffice.bundled import load_bundled
from cineseq_assets.boxoffice.schema import DAY_GROSS_COLUMNS
from cineseq_assets.boxoffice.sources import from_daily
from cineseq_assets.boxoffice.weekly import daily_to_weekly, opening_dates

INCEPTION = "rl2908456449"
REVENGE_OF_THE_FALLEN = "rl3027731969"  # Transformers 2, opened on Wednesday 2009-06-24


def _daily(film, start, grosses, theaters=1000.0, day_of_run=None):
    dates = pd.date_range(start, periods=len(grosses))
    rows = pd.DataFrame({"film_id": film, "date": dates, "gross": grosses, "theaters": theaters,
                         "title": film, "distributor": "X"})
    rows["day_of_run"] = np.arange(1, len(grosses) + 1) if day_of_run is None else day_of_run
    return rows


def test_inception_weeks_match_the_published_figures():
    weeks = load_bundled().film_weeks(INCEPTION)
    expected_millions = [100.16, 65.67, 43.30, 28.05, 17.01, 11.45, 6.93, 6.84, 3.75, 2.64]
    assert np.allclose(weeks["gross"].head(10) / 1e6, expected_millions, atol=0.006)
    assert weeks["usable"].sum() == 25
    assert weeks.loc[0, "theaters_max"] == 3792
    assert weeks.loc[0, "week_start"] == pd.Timestamp("2010-07-16")


def test_missing_day_makes_a_partial_week_and_ends_the_usable_run():
    daily = _daily("f", "2020-01-03", [100.0] * 21)
    daily = daily.drop(index=10)  # a day of week 2 falls off the chart
    weeks = daily_to_weekly(daily)
    assert weeks["days_present"].tolist() == [7, 6, 7]
    assert weeks["full_week"].tolist() == [True, False, True]
    assert weeks["usable"].tolist() == [True, False, False]
    assert weeks.loc[1, "gross"] == 600.0  # missing is missing, never zero-filled or imputed
    assert np.isnan(weeks.loc[1, "day_gross_4"])  # day 11 of the run is day 4 of week 2
    assert weeks[DAY_GROSS_COLUMNS].notna().sum(axis=1).tolist() == [7, 6, 7]


def test_week_with_no_chart_day_is_kept_as_an_empty_week():
    daily = _daily("f", "2020-01-03", [100.0] * 21).iloc[[*range(7), *range(14, 21)]]
    weeks = daily_to_weekly(daily)
    assert weeks["week"].tolist() == [1, 2, 3]
    assert weeks.loc[1, "days_present"] == 0 and np.isnan(weeks.loc[1, "gross"])
    assert weeks.loc[1, DAY_GROSS_COLUMNS].isna().all() and weeks.loc[2, DAY_GROSS_COLUMNS].eq(100.0).all()


def test_film_first_seen_after_opening_has_no_usable_week():
    daily = _daily("late", "2000-01-01", [50.0] * 14, day_of_run=np.arange(10, 24))
    assert opening_dates(daily)["late"] == pd.Timestamp("1999-12-23")
    weeks = daily_to_weekly(daily)
    assert not weeks["usable"].any()


def test_summary_and_market_from_daily():
    daily = pd.concat([_daily("a", "2020-01-03", [10.0] * 14, theaters=3000.0),
                       _daily("b", "2020-01-10", [5.0] * 7, theaters=100.0)])
    data = from_daily(daily, "test")
    films = data.films.set_index("film_id")
    assert films.loc["a", "usable_weeks"] == 2 and films.loc["b", "usable_weeks"] == 1
    market = data.market.set_index("date")
    jan3, jan10 = pd.Timestamp("2020-01-03"), pd.Timestamp("2020-01-10")
    assert market.loc[jan10, "chart_gross"] == 15.0
    assert market.loc[jan3, "wide_openings"] == 1 and market.loc[jan10, "wide_openings"] == 0


@pytest.mark.parametrize("column", ["gross", "cum_gross"])
def test_bundled_weekly_table_is_consistent(column):
    weekly = load_bundled().weekly
    usable = weekly[weekly["usable"]]
    assert (usable[column] > 0).all()
    assert not weekly.duplicated(["film_id", "week"]).any()


@pytest.mark.parametrize("film_id", [INCEPTION, REVENGE_OF_THE_FALLEN])
def test_bundled_day_columns_are_the_daily_chart_rows(bom_chart, film_id):
    weeks = load_bundled().film_weeks(film_id)
    rows = bom_chart[bom_chart["film_id"] == film_id]
    offset = (pd.to_datetime(rows["date"]) - weeks.loc[0, "week_start"]).dt.days
    expected = (pd.DataFrame({"week": offset // 7 + 1, "day": offset % 7 + 1, "gross": rows["gross"].astype(float)})
                .pivot(index="week", columns="day", values="gross")
                .reindex(index=weeks["week"], columns=range(1, 8)))  # a day not on the chart stays NaN
    np.testing.assert_array_equal(weeks[DAY_GROSS_COLUMNS].to_numpy(), expected.to_numpy())
    assert weeks[DAY_GROSS_COLUMNS].notna().sum(axis=1).tolist() == weeks["days_present"].tolist()


def test_day_one_is_the_first_day_of_the_week():
    inception = load_bundled().film_weeks(INCEPTION).set_index("week")
    # Friday 2010-07-16 opened Inception ($21,782,199); week 2 starts on Friday 2010-07-23.
    assert inception.loc[1, "day_gross_1"] == 21_782_199 and inception.loc[2, "day_gross_1"] == 13_083_719
    assert inception.loc[1, "day_gross_7"] == 8_563_251  # Thursday 2010-07-22
    assert inception.loc[1, DAY_GROSS_COLUMNS].sum() == inception.loc[1, "gross"]
