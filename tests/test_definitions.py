"""The code location loads, and its graph is what the README describes."""

import dagster as dg

from cineseq_assets.definitions import defs
from cineseq_assets.partitions import films_partitions


def test_definitions_load_with_every_asset_and_check():
    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assert keys == {"mojo_daily_chart", "film_catalog", "weekly_panel", "decay_fit", "panel", "decay_diagnostics",
                    "trailer_emotion", "trailer_emotion_student", "training_windows", "forecast_model", "forecasts",
                    "forecast_evaluation", "attributions", "representative_frames", "frame_classifier", "frame_predictions"}
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {"panel_schema", "panel_gross_non_negative", "panel_unique_film_week", "panel_weeks_contiguous",
            "panel_cumulative_consistent", "panel_truncation_invariance"} <= checks
    assert {"decay_fit_sanity"} <= checks
    assert {"forecast_model_sanity", "frame_classifier_sanity", "trailer_emotion_student_sanity"} <= checks  # trained models


def test_per_film_assets_are_partitioned_by_film_with_a_backfill_policy():
    graph = defs.resolve_asset_graph()
    for name in ("weekly_panel", "decay_fit", "forecasts"):
        node = graph.get(dg.AssetKey(name))
        assert node.partitions_def == films_partitions
        assert node.backfill_policy == dg.BackfillPolicy.single_run()  # a backfill of every film is one run
    for name in ("panel", "decay_diagnostics", "film_catalog"):
        assert graph.get(dg.AssetKey(name)).partitions_def is None


def test_lineage_runs_from_catalog_to_diagnostics():
    graph = defs.resolve_asset_graph()
    parents = lambda name: {k.to_user_string() for k in graph.get(dg.AssetKey(name)).parent_keys}  # noqa: E731
    assert parents("weekly_panel") == {"film_catalog"}
    assert parents("decay_fit") == {"weekly_panel"}
    assert parents("panel") == {"weekly_panel"}
    assert parents("decay_diagnostics") == {"decay_fit", "panel", "film_catalog"}
    assert parents("film_catalog") == {"mojo_daily_chart"}
    assert parents("training_windows") == {"panel", "trailer_emotion", "frame_predictions"}  # optional inputs
    assert parents("representative_frames") == {"film_catalog"}
    assert parents("frame_predictions") == {"representative_frames", "frame_classifier"}
    # the windows prepared once, by training_windows; the panel and the catalog's final totals fit the final-total model
    assert parents("forecast_model") == {"training_windows", "panel", "film_catalog"}
    # lineage is the data flow: the optional trailer inputs are inputs wherever the forecaster reads them
    trailers = {"trailer_emotion", "frame_predictions"}
    assert parents("forecasts") == {"weekly_panel", "forecast_model"} | trailers
    assert parents("forecast_evaluation") == {"panel"} | trailers
    assert parents("attributions") == {"forecast_model", "panel"} | trailers


def test_registration_job_and_sensor_exist():
    assert defs.resolve_job_def("register_films_job")
    assert defs.resolve_sensor_def("film_registration_sensor")


def test_the_io_manager_and_the_artifact_store_share_one_root(tmp_path):
    from cineseq_assets.definitions import build_definitions

    resources = build_definitions(tmp_path).resources
    assert resources["io_manager"].base_dir == resources["artifacts"].base_dir == str(tmp_path)
    assert resources["box_office"].artifacts.base_dir == str(tmp_path)
