"""Market context from the best source at hand: a user's whole daily chart where the bundled chart is
missing, the bundled chart elsewhere, and no market (``has_market`` 0) where neither is whole.

The user's file is the real Box Office Mojo daily chart of May-August 2019, every film, in the chart's
own columns; the bundled chart is cut at the end of June, as it is cut for every film after its last day.
"""

from __future__ import annotations

import csv
import gzip
import io

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.boxoffice.bundled import load_bundled
from cineseq_assets.boxoffice.features import MarketCalendar
from cineseq_assets.boxoffice.weekly import WHOLE_CHART_FILMS, best_market, market_from_daily
from cineseq_assets.forecast.new_films import user_file_panels

CHART = "data/raw/bom_daily_tjwaterman99/bom_daily_2000-01-01_2025-01-03.csv.gz"
FIRST, LAST, CUT = "2019-05-01", "2019-08-31", "2019-06-30"
LION_KING = "rl3321923073"  # opened 2019-07-19, wide


@pytest.fixture(scope="module")
def summer_chart(shared_dir, tmp_path_factory):
    """(the whole chart of FIRST..LAST as a user file, a file of The Lion King's rows alone)."""
    with gzip.open(shared_dir / CHART, "rt", encoding="utf-8", newline="") as raw:
        reader = csv.reader(raw)
        header = next(reader)
        rows = [row for row in reader if FIRST <= row[0] <= LAST]
    folder = tmp_path_factory.mktemp("market")
    film = header.index("release_id")
    assert sum(row[film] == LION_KING for row in rows) >= 40
    return (_write(folder / "whole_chart.csv", [header, *rows]),
            _write(folder / "one_film.csv", [header, *(row for row in rows if row[film] == LION_KING)]))


def _write(path, rows):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cut_bundled() -> MarketCalendar:
    market = load_bundled().market
    return MarketCalendar(market[pd.to_datetime(market["date"]) <= CUT].reset_index(drop=True))


def _panel(path, market) -> pd.DataFrame:
    panels, _ = user_file_panels(path, market)
    return next(p for p in panels if p["film_id"].iloc[0] == LION_KING).set_index("week")


def test_a_users_whole_chart_is_the_market_where_the_bundled_chart_has_ended(summer_chart, cut_bundled):
    whole, _ = summer_chart
    with_file = _panel(whole, cut_bundled)
    assert (with_file.loc[1:5, "has_market"] == 1).all()
    assert (with_file.loc[1:5, "market_coverage"] > 0.8).all()
    # The same days as the uncut bundled chart, which holds the same whole chart: the same market
    # (through week 4, whose openings two weeks ahead still fall inside the file).
    bundled = _panel(whole, MarketCalendar(load_bundled().market))
    columns = ["market_prev_week_gross", "market_coverage", "wide_openings_w1", "wide_openings_w2"]
    np.testing.assert_allclose(with_file.loc[1:4, columns].to_numpy(float), bundled.loc[1:4, columns].to_numpy(float), rtol=1e-9)


def test_a_file_of_a_few_films_is_not_the_market(summer_chart, cut_bundled):
    _, one_film = summer_chart
    alone = _panel(one_film, cut_bundled)
    assert (alone["has_market"] == 0).all() and alone["market_prev_week_gross"].isna().all()
    with_bundled = _panel(one_film, MarketCalendar(load_bundled().market))
    assert (with_bundled.loc[1:5, "has_market"] == 1).all()  # before the cut the bundled chart is whole


def test_day_by_day_the_most_complete_source_wins():
    bundled = pd.DataFrame({"date": pd.to_datetime(["2024-01-01", "2024-01-02"]), "chart_gross": [9e6, 1e5],
                            "wide_openings": [1, 0]})
    users = pd.DataFrame({"date": pd.to_datetime(["2024-01-02", "2024-01-03"]), "chart_gross": [8e6, 7e6],
                          "wide_openings": [2, 0]})
    best = best_market(users, bundled).set_index("date")
    assert best["chart_gross"].tolist() == [9e6, 8e6, 7e6] and best["wide_openings"].tolist() == [1, 2, 0]
    assert best_market(pd.DataFrame(columns=users.columns)).empty


def test_days_with_fewer_films_than_a_whole_chart_are_left_out():
    daily = pd.DataFrame({"film_id": [f"f{i}" for i in range(WHOLE_CHART_FILMS)] + ["f0"],
                          "date": ["2024-01-01"] * WHOLE_CHART_FILMS + ["2024-01-02"], "gross": 1000.0})
    films = pd.DataFrame({"film_id": ["f0"], "release_date": pd.to_datetime(["2024-01-01"]), "opening_theaters": [3000]})
    market = market_from_daily(daily, films, 2000, min_films=WHOLE_CHART_FILMS)
    assert market["date"].tolist() == [pd.Timestamp("2024-01-01")]
    assert market["chart_gross"].tolist() == [1000.0 * WHOLE_CHART_FILMS]
