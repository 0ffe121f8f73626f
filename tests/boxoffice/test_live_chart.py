"""The live Box Office Mojo ingest as a daily-partitioned asset, served recorded pages at the HTTP layer."""

import gzip

import dagster as dg
import pandas as pd
import pytest
import responses

from cineseq_assets.boxoffice.bundled import load_bundled
from cineseq_assets.boxoffice.resources import BoxOfficeSource
from cineseq_assets.resources import ArtifactStore

DAYS = ["2019-04-26", "2019-04-27", "2020-03-28"]


@pytest.fixture
def recorded_pages(shared_dir):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for day in DAYS:
            body = gzip.decompress((shared_dir / "fixtures" / "boxofficemojo_daily" / f"{day}.html.gz").read_bytes())
            mock.get(f"https://www.boxofficemojo.com/date/{day}/", body=body, content_type="text/html")
        yield mock


def _materialize_day(defs, instance, day):
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("mojo_daily_chart")],
                                  partition_key=day, raise_on_error=False)


@pytest.mark.usefixtures("environment_storage_untouched")
def test_chart_days_materialize_and_feed_the_catalog(instance, recorded_pages, defs, stored):
    for day in DAYS[:2]:
        assert _materialize_day(defs, instance, day).success
    rows = stored.read("mojo_daily_chart", "2019-04-26")
    endgame = rows[rows["film_id"] == "rl3059975681"].iloc[0]
    assert endgame["gross"] == 157_461_641 and endgame["theaters"] == 4662

    data = BoxOfficeSource(kind="live_chart", artifacts=ArtifactStore(base_dir=str(stored.root))).load()
    assert data.source == "live_chart"
    assert "rl3059975681" in set(data.films["film_id"])
    # Its opening Friday and Saturday are the two days materialized; days 3..7 of the week are missing.
    week = data.film_weeks("rl3059975681").iloc[0]
    saturday = stored.read("mojo_daily_chart", "2019-04-27").set_index("film_id").loc["rl3059975681", "gross"]
    assert week["day_gross_1"] == 157_461_641 and week["day_gross_2"] == saturday
    assert week[[f"day_gross_{k}" for k in range(3, 8)]].isna().all() and week["days_present"] == 2
    assert data.market["chart_gross"].gt(0).all()
    # The fetched days are the market on those days; the bundled chart adds the years before them,
    # which a week's market coverage is measured against.
    market = data.market.set_index("date")["chart_gross"]
    live_total = rows["gross"].sum()
    assert market[pd.Timestamp("2019-04-26")] >= live_total
    assert market.index.min() == pd.Timestamp(load_bundled().market["date"].min())


def test_a_day_without_a_chart_materializes_nothing_and_says_so(instance, recorded_pages, defs):
    result = _materialize_day(defs, instance, "2020-03-28")
    assert result.success
    assert not instance.get_materialized_partitions(dg.AssetKey("mojo_daily_chart"))
    warnings = [e.message for e in instance.all_logs(result.run_id) if e.level >= 30]
    assert any("no chart for 2020-03-28" in message for message in warnings)


def test_an_unreachable_site_fails_with_the_offline_path(instance, defs):
    with responses.RequestsMock() as mock:
        mock.get("https://www.boxofficemojo.com/date/2019-04-26/", status=503)
        result = _materialize_day(defs, instance, "2019-04-26")
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error = failure.event_specific_data.error
    message = error.message + (error.cause.message if error.cause else "")
    assert "Box Office Mojo" in message and "bundled" in message
