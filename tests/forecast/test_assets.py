"""The forecast assets through Dagster on a few real films with a fast config: windows, training,
per-film forecasts, the evaluation and attributions; and a failed training that loses nothing."""

import json

import dagster as dg
import pandas as pd
import pytest

from cineseq_assets.boxoffice.bundled import load_bundled
from cineseq_assets.forecast.final_total import TAILS
from cineseq_assets.forecast.store import latest_model_path, load_final_total, load_latest, model_dir
from cineseq_assets.partitions import films_partitions
from cineseq_assets.storage import write_parquet_atomic

FAST_TRAINING = {"epochs": 2, "hidden": 16, "max_seconds": 30.0}


def _run(defs, instance, selection, run_config=None, tags=None, partition_key=None):
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(s) for s in selection],
                                  run_config=run_config or {}, tags=tags or {}, partition_key=partition_key,
                                  raise_on_error=False)


def _ops(**configs):
    return {"ops": {name: {"config": config} for name, config in configs.items()}}


pytestmark = pytest.mark.usefixtures("environment_storage_untouched")


@pytest.fixture
def stored_panel(instance, forecast_panel, stored):
    """The panel, its films' catalog and two films' weekly_panel partitions, as the upstream assets store them."""
    write_parquet_atomic(forecast_panel, stored.asset_file("panel"))
    catalog = load_bundled().films
    write_parquet_atomic(catalog[catalog["film_id"].isin(forecast_panel["film_id"])], stored.asset_file("film_catalog"))
    films = list(forecast_panel["film_id"].drop_duplicates()[:2])
    for film in films:
        write_parquet_atomic(forecast_panel[forecast_panel["film_id"] == film], stored.asset_file("weekly_panel", film))
    instance.add_dynamic_partitions(films_partitions.name, films)
    return films


def test_train_forecast_and_explain_through_dagster(instance, stored_panel, defs, stored):
    result = _run(defs, instance, ["training_windows", "forecast_model"],
                  _ops(training_windows=FAST_TRAINING, forecast_model=FAST_TRAINING))
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"forecast_model_sanity": True}
    windows = stored.read("training_windows")
    assert set(windows["split"]) == {"train", "validation"}  # the served model trains on the test films too
    assert windows.groupby("film_id")["split"].nunique().max() == 1  # a film never straddles splits
    folder = model_dir(stored.root)
    assert {p.name for p in folder.iterdir()} >= {"seq2seq.parquet", "seq2seq.onnx", "seq2seq.booster.txt",
                                                  "seq2seq_attention.parquet", "seq2seq_attention.onnx",
                                                  "seq2seq_attention.booster.txt", "serving.json"}
    meta = instance.get_latest_materialization_event(dg.AssetKey("forecast_model")).asset_materialization.metadata
    assert meta["serving"].value in {"seq2seq", "seq2seq_attention"}
    served = meta["metrics"].value[meta["serving"].value]
    assert served["validation_wape"] <= served["network_validation_wape"]  # the blend is chosen on validation films
    assert "data:image/png;base64" in meta["plot_learning_curves"].value
    final = load_final_total(latest_model_path(stored.root))  # stored with the model, its tail chosen on validation films
    assert final.tail in TAILS and set(meta["metrics"].value[meta["serving"].value]["final_total_validation_wape"]) == set(TAILS)

    first, last = stored_panel
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    assert _run(defs, instance, ["forecasts"], tags=tags).success
    table = stored.read("forecasts", first)
    live = table[table["kind"] == "live"]
    assert len(live) == 4 and (live["p10"] <= live["p50"]).all() and (live["p50"] <= live["p90"]).all()
    # every row carries the final domestic total from its origin week
    assert (table["final_p50"] >= table["gross_to_date"]).all() and (table["final_p10"] <= table["final_p90"]).all()
    assert (table.groupby(["kind", "origin_week"])["final_p50"].nunique() == 1).all()
    # each film's partition of the range run shows its own fan chart, live forecast and final total
    charts = {}
    for film in stored_panel:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("forecasts"), asset_partitions=[film]), limit=1).records
        meta = records[0].asset_materialization.metadata
        assert meta["plot_forecast"].value.startswith(f"![{film}](data:image/svg+xml;base64,")
        assert "p50" in meta["live_forecast"].value and "multiplier baseline $" in meta["final_total"].value
        assert meta["films"].value == 2  # the run's own metadata, on every partition
        charts[film] = meta["plot_forecast"].value
    assert charts[first] != charts[last]

    assert _run(defs, instance, ["attributions"]).success
    attributions = stored.read("attributions")
    assert attributions["film_id"].nunique() == len(stored.read("panel")["film_id"].unique())
    folder = stored.folder("attributions")
    importance = pd.read_parquet(folder / "global_importance.parquet")
    assert importance["share"].sum() == pytest.approx(1.0)
    assert (folder / "global_importance.png").stat().st_size > 1000


def test_evaluation_asset_scores_models_and_baselines_on_test_films(instance, stored_panel, defs, stored):
    config = {"seeds": [0], "split_kinds": ["by_film"], "networks": ["seq2seq"], "epochs": 2, "max_seconds": 30.0}
    result = _run(defs, instance, ["forecast_evaluation"], _ops(forecast_evaluation=config))
    assert result.success
    errors = stored.read("forecast_evaluation")
    assert set(errors["model"]) == {"seq2seq", "naive", "pooled_decay", "film_loglinear", "decay_prior", "gradient_boosting"}
    assert set(errors["grouping"]) == {"overall", "horizon", "origin", "release_width", "film"}
    origins = errors.loc[errors["grouping"] == "origin", "group"].astype(int)
    assert origins.between(2, 8).all()
    meta = instance.get_latest_materialization_event(dg.AssetKey("forecast_evaluation")).asset_materialization.metadata
    assert "seq2seq" in meta["overall_by_film"].value and "wape_mean" in meta["overall_by_film"].value


def test_a_failed_training_keeps_the_serving_model(instance, stored_panel, defs, stored):
    assert _run(defs, instance, ["training_windows", "forecast_model"],
                _ops(training_windows=FAST_TRAINING, forecast_model=FAST_TRAINING | {"architectures": ["seq2seq"]})).success
    weights = latest_model_path(stored.root)
    before = weights.read_bytes(), (model_dir(stored.root) / "serving.json").read_text()
    bad = FAST_TRAINING | {"architectures": ["seq2seq", "transformer"]}
    result = _run(defs, instance, ["forecast_model"], _ops(forecast_model=bad))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error = failure.event_specific_data.error
    assert "transformer" in (error.message + (error.cause.message if error.cause else ""))
    assert (weights.read_bytes(), (model_dir(stored.root) / "serving.json").read_text()) == before
    # the model trains on the windows training_windows prepared: other window settings are refused, naming them
    other_windows = _run(defs, instance, ["forecast_model"], _ops(forecast_model=FAST_TRAINING | {"encoder_length": 12}))
    error = next(e for e in other_windows.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.error
    assert "encoder_length 8 there, 12 here" in (error.message + (error.cause.message if error.cause else ""))
    assert (weights.read_bytes(), (model_dir(stored.root) / "serving.json").read_text()) == before
    assert json.loads(before[1])["serving"] == "seq2seq"
    assert load_latest(stored.root)[0].architecture == "seq2seq"
