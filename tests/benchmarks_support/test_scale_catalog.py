"""The synthetic catalog of benchmarks/scale.py: real films copied under new ids with their dates shifted,
written one copy at a time, and read by the user-file source like any user's daily file."""

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cineseq_assets.boxoffice.bundled import load_bundled
from cineseq_assets.boxoffice.userfile import limits, load_user_file

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "scale.py"


@pytest.fixture(scope="module")
def scale(load_script):
    return load_script(SCRIPT)


@pytest.fixture(scope="module")
def catalog_films() -> int:
    return len(load_bundled().films)


def test_the_plan_copies_the_catalog_and_spreads_a_part_copy_over_it(scale):
    films = [f"f{number}" for number in range(10)]
    assert scale.copy_plan(films, 0.3) == [(0, ["f0", "f3", "f6"])]  # spread over the (release-ordered) catalog
    plan = scale.copy_plan(films, 2.5)
    assert [copy for copy, _ in plan] == [0, 1, 2] and [len(part) for _, part in plan] == [10, 10, 5]
    with pytest.raises(ValueError):
        scale.copy_plan(films, 0)


def test_a_copy_has_new_ids_and_its_days_whole_weeks_later(scale):
    days = scale.bundled_days(load_bundled())
    copy = scale.shifted_copy(days, 3)
    assert not set(copy["film_id"]) & set(days["film_id"])
    assert (copy["date"] - days["date"]).eq(pd.Timedelta(days=21)).all()
    assert (copy["release_date"] - days["release_date"]).eq(pd.Timedelta(days=21)).all()
    assert (copy["date"].dt.day_of_week == days["date"].dt.day_of_week).all()  # weekends stay weekends
    assert scale.shifted_copy(days, 0) is days  # copy 0 is the real films


def test_the_days_rebuild_the_bundled_weekly_grosses(scale):
    data = load_bundled()
    days = scale.bundled_days(data)
    release = days["release_date"]
    weeks = days.assign(week=(days["date"] - release).dt.days // 7 + 1).groupby(["film_id", "week"])["gross"].sum()
    bundled = data.weekly.set_index(["film_id", "week"])["gross"]
    assert weeks.reindex(bundled.index).fillna(0).to_numpy() == pytest.approx(bundled.fillna(0).to_numpy())


def test_the_file_loads_as_a_users_daily_file_with_every_film(scale, catalog_films, tmp_path):
    path = tmp_path / "catalog.parquet"
    films = scale.write_synthetic_catalog(1.02, path)
    assert films == round(1.02 * catalog_films)
    assert pq.ParquetFile(path).num_row_groups == 2  # one copy in memory at a time
    data = load_user_file(path)
    assert len(data.films) == films and not data.rejected
    assert data.films["film_id"].is_unique
    copies = data.films[data.films["film_id"].str.endswith("-copy1")]
    assert len(copies) == films - catalog_films


def test_a_catalog_beyond_the_user_file_limit_is_refused_before_writing(scale, tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_ROWS", 1000)
    with pytest.raises(SystemExit, match="daily rows"):
        scale.write_synthetic_catalog(0.05, tmp_path / "catalog.parquet")
    assert not (tmp_path / "catalog.parquet").exists()
