"""Real materializations through Dagster: the catalog, per-film assets over a partition range, aggregates."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from cineseq_assets.boxoffice.bundled import load_bundled
from cineseq_assets.jobs import register_new_films
from cineseq_assets.partitions import films_partitions
from cineseq_assets.storage import write_parquet_atomic

INCEPTION, GRAND_BUDAPEST, ENDGAME = "rl2908456449", "rl475497985", "rl3059975681"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(defs, instance, selection, tags=None):
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(s) for s in selection],
                                  tags=tags or {}, raise_on_error=False)


def _range(first, last):
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


pytestmark = pytest.mark.usefixtures("environment_storage_untouched")


def test_catalog_panel_and_decay_for_a_few_films(instance, defs, stored):
    assert _run(defs, instance, ["film_catalog"]).success
    instance.add_dynamic_partitions(films_partitions.name, [INCEPTION, GRAND_BUDAPEST, ENDGAME])
    result = _run(defs, instance, ["weekly_panel", "decay_fit"], _range(INCEPTION, ENDGAME))
    assert result.success
    assert instance.get_materialized_partitions(dg.AssetKey("weekly_panel")) == {INCEPTION, GRAND_BUDAPEST, ENDGAME}
    assert len(stored.read("weekly_panel", INCEPTION)) == 25

    result = _run(defs, instance, ["panel", "decay_diagnostics"])
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks and all(checks.values()), checks
    assert "panel_truncation_invariance" in checks and "decay_fit_sanity" in checks
    panel = stored.read("panel")
    assert set(panel["film_id"]) == {INCEPTION, GRAND_BUDAPEST, ENDGAME}
    assert (panel["schema_version"] == "3").all()
    assert panel["has_daily"].eq(1).all() and panel[[f"day_gross_{k}" for k in range(1, 8)]].notna().all().all()
    plots = stored.folder("decay_diagnostics")
    assert {p.name for p in plots.glob("*.png")} >= {"r2_histogram.png", "half_life_by_genre.png", "example_film_fit.png"}
    catalog_meta = instance.get_latest_materialization_event(dg.AssetKey("film_catalog")).asset_materialization.metadata
    assert "The Numbers" in catalog_meta["join_match_rates"].value


def test_one_bad_film_fails_only_its_own_partition(instance, defs, stored):
    """A film registered by hand whose data are bad: the others of the range are materialized (by the
    configured IO manager, as a successful run would), it fails, and its previously stored file is left as it was."""
    instance.add_dynamic_partitions(films_partitions.name, [INCEPTION, "not-a-film", ENDGAME])
    old = pd.DataFrame({"film_id": ["not-a-film"], "week": [1]})
    write_parquet_atomic(old, stored.asset_file("weekly_panel", "not-a-film"))

    result = _run(defs, instance, ["weekly_panel"], _range(INCEPTION, ENDGAME))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "1 of 3 films failed" in message and "not-a-film" in message and "not in the box-office source" in message
    assert instance.get_materialized_partitions(dg.AssetKey("weekly_panel")) == {INCEPTION, ENDGAME}
    assert len(stored.read("weekly_panel", INCEPTION)) == 25 and len(stored.read("weekly_panel", ENDGAME)) > 0
    pd.testing.assert_frame_equal(stored.read("weekly_panel", "not-a-film"), old)


def test_a_users_daily_file_becomes_partitions(instance, monkeypatch, storage_root, stored):
    monkeypatch.setenv("CINESEQ_BOX_OFFICE_SOURCE", "user_file")
    monkeypatch.setenv("CINESEQ_USER_FILE", str(EXAMPLES / "my_films_daily.csv"))
    from cineseq_assets.definitions import build_definitions

    defs = build_definitions(storage_root)  # after the environment names the user's file
    assert _run(defs, instance, ["film_catalog"]).success
    new = register_new_films(instance, stored.read("film_catalog"))
    assert new == ["inception-2010", "the-social-network-2010", "arrival-2016"]  # the file's own ids, by release date
    result = _run(defs, instance, ["weekly_panel", "decay_fit"], _range(new[0], new[-1]))
    assert result.success
    panel = stored.read("weekly_panel", "inception-2010")
    # the whole-chart context of a user's film comes from the real chart, not from the user's few films
    chart = load_bundled().market.set_index("date")["chart_gross"]
    assert panel.loc[0, "market_prev_week_gross"] == chart[pd.Timestamp("2010-07-09"):pd.Timestamp("2010-07-15")].sum()
    # metadata the file does not give comes from the bundled The Numbers + TMDB tables, by title and year
    assert panel.loc[0, "budget"] == 160_000_000 and "Science Fiction" in panel.loc[0, "genres"]


def test_the_registration_job_and_sensor_read_the_catalog_through_its_io_manager(instance, defs, stored):
    assert _run(defs, instance, ["film_catalog"]).success
    catalog = stored.read("film_catalog")
    sensor = defs.resolve_sensor_def("film_registration_sensor")
    context = dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def())
    result = sensor.evaluate_tick(context)
    requested = result.dynamic_partitions_requests[0].partition_keys
    assert list(requested) == list(catalog["film_id"])

    assert defs.resolve_job_def("register_films_job").execute_in_process(instance=instance).success
    assert instance.get_dynamic_partitions(films_partitions.name) == list(catalog["film_id"])
