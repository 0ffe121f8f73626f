"""The panel's features: values on real films, and truncation invariance for every feature function."""

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.boxoffice.bundled import bundled_trends, load_bundled
from cineseq_assets.boxoffice.calendar import holiday_flags, weeks_since_holiday
from cineseq_assets.boxoffice.features import (
    FEATURES,
    MIN_MARKET_COVERAGE,
    FilmContext,
    MarketCalendar,
    daily_shape_features,
    market_features,
    trends_summary,
    usable_weeks,
)
from cineseq_assets.boxoffice.panel import film_panel, film_row, truncation_mismatches
from cineseq_assets.boxoffice.schema import DAY_GROSS_COLUMNS
from cineseq_assets.boxoffice.sources import from_daily
from cineseq_assets.errors import FilmDataError

INCEPTION = "rl2908456449"
ENDGAME = "rl3059975681"
GRAND_BUDAPEST = "rl475497985"  # platform release
STAR_IS_BORN = "rl2164360705"  # opens the week of the Columbus day weekend (no flagged holiday)
REVENGE_OF_THE_FALLEN = "rl3027731969"  # Transformers 2: opened on Wednesday 2009-06-24, weeks Wednesday-Tuesday


@pytest.fixture(scope="module")
def data():
    return load_bundled()


@pytest.fixture(scope="module")
def market(data):
    return MarketCalendar(data.market)


def _films_with_trends(data, count):
    return list(data.films.loc[data.films["trends_match"], "film_id"].head(count))


def _context(data, market, film_id):
    return FilmContext(film=film_row(data, film_id), market=market, trends=bundled_trends().get(film_id))


SAMPLE = [INCEPTION, ENDGAME, GRAND_BUDAPEST, "rl1180009985"]  # the last one has Google Trends buzz


@pytest.mark.parametrize("feature", FEATURES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("film_id", SAMPLE)
def test_every_feature_is_truncation_invariant(data, market, feature, film_id):
    weeks = data.film_weeks(film_id)
    assert truncation_mismatches(weeks, _context(data, market, film_id), feature) == []


def test_the_invariance_check_catches_a_leaky_feature(data, market):
    def next_week_gross(weeks, ctx):  # a feature that peeks at week t+1
        return pd.DataFrame({"leak": weeks["gross"].shift(-1)})

    problems = truncation_mismatches(data.film_weeks(INCEPTION), _context(data, market, INCEPTION), next_week_gross)
    assert len(problems) == 24  # every week but the last usable one changes once the future is cut


def test_the_invariance_check_catches_a_market_peek(data, market):
    def this_week_market(weeks, ctx):  # the chart of week t itself is not known before week t starts
        day = ctx.market.day_numbers(weeks["week_start"])
        return pd.DataFrame({"leak": ctx.market.window_sum("chart_gross", day + 1)})

    assert truncation_mismatches(data.film_weeks(INCEPTION), _context(data, market, INCEPTION), this_week_market)


def test_inception_panel_values(data, market):
    panel = film_panel(data, INCEPTION, market)
    assert len(panel) == 25 and panel["week"].tolist() == list(range(1, 26))
    assert panel.loc[0, "log_gross"] == pytest.approx(np.log1p(100_158_412))
    assert panel.loc[1, "retention"] == pytest.approx(65_670_084 / 100_158_412, rel=1e-4)
    assert np.isnan(panel.loc[0, "retention"])
    assert panel.loc[0, "release_width"] == "wide"
    # Week 8 of Inception (Sep 3-9, 2010) holds Labor Day (Sep 6); week 4 sees it 4 weeks ahead.
    assert panel.loc[7, "holiday_labor_day_w0"] == 1 and panel.loc[3, "holiday_labor_day_w4"] == 1
    assert panel.loc[7, "weeks_since_holiday"] == 0
    assert panel["market_prev_week_days"].iloc[1:].eq(7).all()
    # The chart of the week before Inception opened (Jul 9-15, 2010) is the sum of those days.
    chart = data.market.set_index("date")["chart_gross"]
    assert panel.loc[0, "market_prev_week_gross"] == pytest.approx(chart["2010-07-09":"2010-07-15"].sum())


def test_holiday_flags_and_weeks_since():
    starts = pd.Series(pd.to_datetime(["2019-11-22", "2019-12-20", "2019-07-05", "2019-08-16"]))
    flags = holiday_flags(starts)
    assert flags.loc[0, "holiday_thanksgiving_w0"] == 1 and flags.loc[0, "holiday_thanksgiving_w1"] == 0  # Nov 28
    assert flags.loc[1, "holiday_christmas_new_year_w0"] == 1
    assert flags.loc[2, "holiday_july_4_w0"] == 0  # Jul 4, 2019 fell the day before
    assert weeks_since_holiday(starts).tolist() == [0, 0, 1, 7]


def test_trends_are_rescaled_with_past_data_only():
    dates = pd.date_range("2015-01-04", periods=10, freq="7D")
    series = pd.DataFrame({"date": dates, "interest": [10, 20, 40, 20, 10, 50, 25, 25, 25, 25]})
    release = pd.Timestamp("2015-02-15")  # after the first 6 weeks
    before = trends_summary(series.head(6), release)
    with_future = trends_summary(series.assign(interest=series["interest"].where(series["date"] < release, 100)), release)
    assert before == with_future  # a post-release spike to 100 changes nothing
    assert before["buzz_trends_last4"] == pytest.approx(100 * np.mean([40, 20, 10, 50]) / 50)


def test_film_errors_name_the_film(data, market):
    with pytest.raises(FilmDataError, match="'rl000'.*not in the box-office source"):
        film_panel(data, "rl000", market)


def shifted(data, film_id, to: str):
    """(weeks, film row) of a real film with its run moved to open on ``to`` (same weekday rhythm)."""
    row = film_row(data, film_id).copy()
    offset = pd.Timestamp(to) - pd.Timestamp(row["release_date"])
    weeks = data.film_weeks(film_id).copy()
    weeks["week_start"] = pd.to_datetime(weeks["week_start"]) + offset
    row["release_date"] = pd.Timestamp(row["release_date"]) + offset
    return weeks, row


def test_a_full_market_is_known_with_its_coverage(data, market):
    panel = film_panel(data, INCEPTION, market)
    assert panel["has_market"].eq(1).all() and panel["market_prev_week_gross"].notna().all()
    assert panel["market_coverage"].between(0.7, 1.6).all()  # 2010 against the median of 2007-2009


@pytest.mark.parametrize("opening", ["2024-06-14", "2025-03-07"])  # the bundled 2024 chart is partial; 2025 is past its end
def test_a_partial_or_absent_market_is_unknown(data, market, opening):
    weeks, row = shifted(data, INCEPTION, opening)
    panel = market_features(usable_weeks(weeks), FilmContext(film=row, market=market))
    assert panel["has_market"].eq(0).all()
    assert panel[["market_prev_week_gross", *[f"wide_openings_w{k}" for k in range(1, 5)]]].isna().all().all()
    assert (panel["market_coverage"].fillna(0) < MIN_MARKET_COVERAGE).all()


def test_the_bundled_2024_chart_reads_as_partial(market):
    days = market.day_numbers(pd.Series(pd.date_range("2024-03-01", "2024-11-01", freq="7D")))
    assert (market.coverage(days) < MIN_MARKET_COVERAGE).all()
    # the first two charted years have no usual gross to compare with: unknown, not full
    assert np.isnan(market.coverage(market.day_numbers(pd.Series(pd.to_datetime(["2000-06-02", "2001-06-01"]))))).all()


def test_a_shifted_film_stays_truncation_invariant(data, market):
    weeks, row = shifted(data, INCEPTION, "2024-01-12")  # its run crosses from a known into an unknown market
    problems = truncation_mismatches(weeks, FilmContext(film=row, market=market), market_features)
    assert problems == []


SHAPE_COLUMNS = ["weekend_share", "sunday_over_friday", "late_week_retention", "last_day_level"]


def test_inception_opening_weekend_share_is_the_published_one(data, market):
    panel = film_panel(data, INCEPTION, market)
    # Opening weekend (Fri-Sun, Jul 16-18, 2010) $62,785,337 of the opening week's $100,158,412.
    assert panel.loc[0, "weekend_share"] == pytest.approx(62_785_337 / 100_158_412, rel=1e-12)
    assert panel["has_daily"].eq(1.0).all() and panel[[*DAY_GROSS_COLUMNS, *SHAPE_COLUMNS[:2]]].notna().all().all()
    assert np.isnan(panel.loc[0, "late_week_retention"])  # no week before the opening


def test_the_shape_of_a_wednesday_opening_by_hand(data, bom_chart):
    """Weekdays come from the dates: a Wednesday week's Friday is its day 3, its days 5..7 Sun-Tue."""
    shape = daily_shape_features(usable_weeks(data.film_weeks(REVENGE_OF_THE_FALLEN)), None)
    gross = bom_chart[bom_chart["film_id"] == REVENGE_OF_THE_FALLEN].set_index("date")["gross"].astype(float)
    week1, week2 = gross["2009-06-24":"2009-06-30"], gross["2009-07-01":"2009-07-07"]
    friday, sunday = gross["2009-06-26"], gross["2009-06-28"]
    assert shape.loc[0, "weekend_share"] == pytest.approx(gross["2009-06-26":"2009-06-28"].sum() / week1.sum(), rel=1e-12)
    assert shape.loc[0, "sunday_over_friday"] == pytest.approx(np.log((sunday + 1) / (friday + 1)), rel=1e-12)
    assert shape.loc[0, "last_day_level"] == pytest.approx(np.log1p(7 * gross["2009-06-30"]) - np.log1p(week1.sum()), rel=1e-12)
    assert shape.loc[1, "late_week_retention"] == pytest.approx(
        np.log1p(gross["2009-07-05":"2009-07-07"].sum()) - np.log1p(gross["2009-06-28":"2009-06-30"].sum()), rel=1e-12)
    # The Independence Day weekend (Fri-Sun Jul 3-5) of week 2
    assert shape.loc[1, "weekend_share"] == pytest.approx(gross["2009-07-03":"2009-07-05"].sum() / week2.sum(), rel=1e-12)


def test_a_missing_day_is_missing_in_the_shape(data, bom_chart):
    """Inception's chart without Thursday 2010-08-05 (day 7 of week 3): week 3 is partial and only the
    values that need that day are NaN; the other weeks are those of the bundled data."""
    rows = bom_chart[(bom_chart["film_id"] == INCEPTION) & (bom_chart["date"] != "2010-08-05")]
    weeks = from_daily(rows, "test").film_weeks(INCEPTION)
    assert weeks.loc[2, "days_present"] == 6 and np.isnan(weeks.loc[2, "day_gross_7"])
    shape = daily_shape_features(weeks, None).set_index(weeks["week"])
    bundled_weeks = data.film_weeks(INCEPTION)
    bundled = daily_shape_features(bundled_weeks, None).set_index(bundled_weeks["week"])
    assert shape.loc[3, "has_daily"] == 0.0 and shape.loc[[1, 2, 4, 5], "has_daily"].eq(1.0).all()
    assert shape["has_daily"].tolist() == weeks["days_present"].eq(7).astype(float).tolist()
    assert shape.loc[3, ["weekend_share", "last_day_level"]].isna().all()  # the week's total is unknown
    assert shape.loc[3, "sunday_over_friday"] == bundled.loc[3, "sunday_over_friday"]  # its Friday and Sunday are known
    assert shape.loc[[3, 4], "late_week_retention"].isna().all()  # days 5..7 of week 3 are read by weeks 3 and 4
    unaffected = [week for week in bundled.index if week not in (3, 4)]
    pd.testing.assert_frame_equal(shape.loc[unaffected], bundled.loc[unaffected])
