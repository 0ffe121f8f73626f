"""Live metadata and buzz sources through Dagster, against recorded/mocked HTTP: the offline path is named."""

import re

import dagster as dg
import responses

from cineseq_assets.definitions import build_definitions
from cineseq_assets.partitions import films_partitions
from cineseq_assets.storage import Storage

INCEPTION = "rl2908456449"
SECRET = "tmdb-key-that-must-not-leak"


def _run_panel(instance, storage_root):
    job = build_definitions(storage_root).resolve_implicit_global_asset_job_def()  # after the test set the sources
    return job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("weekly_panel")],
                                  partition_key=INCEPTION, raise_on_error=False)


def test_unreachable_tmdb_fails_the_film_naming_source_film_and_offline_path(instance, monkeypatch, storage_root):
    monkeypatch.setenv("CINESEQ_METADATA_SOURCE", "tmdb_api")
    monkeypatch.setenv("TMDB_API_KEY", SECRET)
    instance.add_dynamic_partitions(films_partitions.name, [INCEPTION])
    with responses.RequestsMock() as mock:
        mock.get(re.compile(r"https://api\.themoviedb\.org/3/search/movie.*"), status=500,
                 json={"status_message": "Internal error"})
        result = _run_panel(instance, storage_root)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "TMDB" in message and "Inception" in message and INCEPTION in message and "bundled" in message
    logs = " ".join(str(entry.message) for entry in instance.all_logs(result.run_id))
    assert SECRET not in logs and SECRET not in message


def test_tmdb_metadata_lands_in_the_panel(instance, monkeypatch, shared_dir, storage_root):
    monkeypatch.setenv("CINESEQ_METADATA_SOURCE", "tmdb_api")
    monkeypatch.setenv("TMDB_API_KEY", SECRET)
    instance.add_dynamic_partitions(films_partitions.name, [INCEPTION])
    search = {"page": 1, "total_results": 1, "total_pages": 1, "results": [
        {"id": 27205, "title": "Inception", "original_title": "Inception", "release_date": "2010-07-15", "vote_count": 35000}]}
    details = {"id": 27205, "title": "Inception", "release_date": "2010-07-15", "runtime": 148, "budget": 160000000,
               "genres": [{"id": 28, "name": "Action"}, {"id": 878, "name": "Science Fiction"}],
               "vote_average": 8.4, "vote_count": 35000, "popularity": 90.5}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(re.compile(r"https://api\.themoviedb\.org/3/search/movie.*"), json=search)
        mock.get(re.compile(r"https://api\.themoviedb\.org/3/movie/27205.*"), json=details)
        assert _run_panel(instance, storage_root).success
    panel = Storage(storage_root).read("weekly_panel", INCEPTION)
    assert panel.loc[0, "genres"] == "Action|Science Fiction" and panel.loc[0, "runtime"] == 148
    meta = instance.get_latest_materialization_event(dg.AssetKey("weekly_panel")).asset_materialization.metadata
    assert "metadata: tmdb_api" in meta["source"].value
