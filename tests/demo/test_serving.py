"""The forecasting package's serving layer behind the demo (no Gradio here)."""

import shutil
import time

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.boxoffice.userfile import load_user_file
from cineseq_assets.errors import CineSeqError, ModelError
from cineseq_assets.forecast.serving import (
    FilmNotFoundError,
    FilmService,
    diagnostic_images,
    evaluation_table,
    stored_models,
    write_weekly_file,
)
from cineseq_assets.forecast.store import model_dir, model_folder
from cineseq_assets.model_store import SERVING_FILE, ModelFolder
from cineseq_assets.storage import asset_path, write_parquet_atomic


@pytest.fixture
def service(demo_storage):
    return FilmService(demo_storage)


def _long_run(panel, weeks=8):
    runs = panel.groupby("film_id")["week"].max()
    return runs[runs >= weeks].index[0]


def test_catalog_lists_showcase_films_first_with_a_year_label(service, forecast_panel):
    catalog = service.catalog()
    assert len(catalog) == forecast_panel["film_id"].nunique()
    assert catalog["showcase"].iloc[:3].all() and not catalog["showcase"].iloc[3:].any()
    assert catalog["label"].str.fullmatch(r".+ \(\d{4}\)").all()


def test_a_film_is_found_by_id_title_or_label_in_any_case(service):
    row = service.catalog().iloc[5]
    assert {service.resolve(row["film_id"]), service.resolve(row["title"].upper()),
            service.resolve(row["label"])} == {row["film_id"]}


def test_a_title_shared_by_two_films_asks_for_the_year(tmp_path, forecast_panel):
    panel = forecast_panel.copy()
    first, second = panel["film_id"].unique()[:2]
    title = panel.loc[panel["film_id"] == first, "title"].iloc[0]
    panel.loc[panel["film_id"] == second, "title"] = title
    panel.to_parquet(asset_path("panel", root=tmp_path))
    service = FilmService(tmp_path)
    with pytest.raises(FilmNotFoundError, match="matches 2 films: .* Give the year or the film id"):
        service.resolve(title)
    label = service.catalog().set_index("film_id").loc[second, "label"]
    if label != service.catalog().set_index("film_id").loc[first, "label"]:
        assert service.resolve(label) == second


def test_forecast_from_an_origin_matches_the_panel_and_the_decay_prior(service, forecast_panel):
    film_id = _long_run(forecast_panel)
    film = forecast_panel[forecast_panel["film_id"] == film_id].set_index("week")
    forecast = service.forecast(film_id, 2)
    assert forecast.origin_week == 2 and forecast.last_week == film.index.max() and not forecast.live
    assert forecast.table["week"].tolist() == [3, 4, 5, 6]
    assert np.allclose(forecast.table["actual"], film.loc[[3, 4, 5, 6], "gross"], rtol=1e-6)
    prior = np.expm1(forecast.window.prior[0])
    assert np.allclose(forecast.table["decay_baseline"], prior)
    assert forecast.history["week"].tolist() == film.index.tolist()
    assert set(forecast.errors["horizon"]) == {"1", "2", "3", "4", "all"}
    assert forecast.timing_ms["model"] <= forecast.timing_ms["forecast"]


def test_final_total_adds_the_forecast_and_a_tail_to_the_gross_to_date(service, forecast_panel, fresh_storage):
    film_id = _long_run(forecast_panel)
    film = forecast_panel[forecast_panel["film_id"] == film_id].set_index("week")
    forecast = service.forecast(film_id, 2)
    final = forecast.final_total
    assert final["gross_to_date"] == pytest.approx(film.loc[[1, 2], "gross"].sum(), rel=1e-6)
    assert final["final_p50"] > final["gross_to_date"] + forecast.table["p50"].sum() * 0.999
    assert final["gross_to_date"] <= final["final_p10"] <= final["final_p50"] <= final["final_p90"]
    assert final["multiplier_baseline"] > final["gross_to_date"]
    assert final["final_tail"] == service.models.current().final_total.tail
    # a model stored without a final-total model still forecasts its four weeks
    assert FilmService(fresh_storage("seq2seq")).forecast(film_id, 2).final_total is None


def test_origin_outside_the_run_is_refused(service, forecast_panel):
    film_id = _long_run(forecast_panel)
    with pytest.raises(ValueError, match="outside this film's run"):
        service.forecast(film_id, 500)


def test_explanation_is_complete_and_has_attention(service, forecast_panel):
    forecast = service.forecast(_long_run(forecast_panel), 3)
    explanation = service.explain(forecast)
    assert explanation.converged
    per_horizon = explanation.contributions[["h1", "h2", "h3", "h4"]].sum().to_numpy()
    # completeness: the attributions add up to F(x) - F(baseline), horizon by horizon
    from cineseq_assets.forecast.attributions import integrated_gradients

    attributions = integrated_gradients(forecast.model.model, forecast.window)
    difference = (attributions.forecast - attributions.baseline_forecast)[0]
    assert np.allclose(per_horizon, difference, atol=0.02 + 0.02 * np.abs(difference).max())
    assert explanation.attention.shape == (4, forecast.window.encoder.shape[1])
    assert np.allclose(explanation.attention.sum(axis=1), 1.0, atol=1e-5)


def test_without_attention_the_stored_attention_model_explains(fresh_storage, forecast_panel):
    service = FilmService(fresh_storage("seq2seq"))
    forecast = service.forecast(_long_run(forecast_panel), 3)
    assert forecast.attention is None
    explanation = service.explain(forecast)
    assert explanation.attention is not None and "seq2seq_attention (not serving)" in explanation.attention_source


def test_a_broken_new_model_file_keeps_the_old_one_serving(fresh_storage, forecast_panel):
    storage = fresh_storage("seq2seq_attention")
    service = FilmService(storage)
    assert service.models.current().architecture == "seq2seq_attention"
    time.sleep(0.01)
    (model_dir(storage) / "seq2seq.parquet").write_bytes(b"not parquet")
    model_folder(storage).publish("seq2seq", chosen_by="test")
    assert service.models.current().architecture == "seq2seq_attention"
    assert "seq2seq.parquet" in service.models.reload_error


def test_serving_json_is_read_again_only_when_it_changes(fresh_storage, monkeypatch):
    """A request checks serving.json with a stat; a new one is read: another model serves, or a broken file
    leaves the last good model serving with the reason, until it is repaired."""
    storage = fresh_storage("seq2seq_attention")
    reads = []
    serving = ModelFolder.serving
    monkeypatch.setattr(ModelFolder, "serving", lambda folder: reads.append(folder) or serving(folder))
    service = FilmService(storage)
    for _ in range(3):
        assert service.models.current().architecture == "seq2seq_attention"
    assert len(reads) == 1
    time.sleep(0.01)  # a later modification time
    model_folder(storage).publish("seq2seq", chosen_by="test")
    assert service.models.current().architecture == "seq2seq" and len(reads) == 2
    time.sleep(0.01)
    (model_dir(storage) / SERVING_FILE).write_text('{"serving": ')
    assert service.models.current().architecture == "seq2seq"
    assert SERVING_FILE in service.models.reload_error
    time.sleep(0.01)
    model_folder(storage).publish("seq2seq_attention", chosen_by="test")
    assert service.models.current().architecture == "seq2seq_attention" and service.models.reload_error is None


def test_a_newly_materialized_panel_replaces_what_is_kept_per_film(demo_storage, tmp_path, forecast_panel):
    """The service keeps each film's rows, title and gross to date from one read of the panel: a new panel
    replaces them all, so no film keeps numbers of the old one."""
    storage = shutil.copytree(demo_storage, tmp_path / "storage")
    service = FilmService(storage)
    film_id = _long_run(forecast_panel)
    before = service.forecast(film_id, 3)
    panel = forecast_panel.copy()
    film = panel["film_id"] == film_id
    panel.loc[film, ["gross", "cum_gross"]] *= 2
    panel.loc[film, "title"] = "A New Title"
    time.sleep(0.01)  # a later modification time
    write_parquet_atomic(panel, asset_path("panel", root=storage))
    after = service.forecast(film_id, 3)
    assert after.title == "A New Title" != before.title
    assert np.allclose(after.history["gross"], 2 * before.history["gross"])
    assert after.final_total["gross_to_date"] == pytest.approx(2 * before.final_total["gross_to_date"])
    assert after.final_total["gross_to_date"] == pytest.approx(panel.loc[film & (panel["week"] <= 3), "gross"].sum())


def test_no_panel_says_how_to_materialize(tmp_path):
    with pytest.raises(ModelError, match="cineseq run"):
        FilmService(tmp_path).catalog()


def test_weekly_file_from_a_form_loads_with_its_metadata(tmp_path):
    weeks = pd.DataFrame({"week": [1, 2, None], "gross": [1_000_000, 600_000, None], "theaters": [2000, 2100, None]})
    path = write_weekly_file(weeks, tmp_path / "film.csv", release_date="2019-03-08", title="Test Film",
                             genres=["Drama", "Comedy"], budget=20_000_000, mpaa="PG-13")
    data = load_user_file(path)
    film = data.films.iloc[0]
    assert film["title"] == "Test Film" and film["budget"] == 20_000_000 and film["mpaa"] == "PG-13"
    assert data.weekly["gross"].tolist() == [1_000_000, 600_000]


def test_weeks_table_without_gross_is_refused(tmp_path):
    with pytest.raises(CineSeqError, match="no gross"):
        write_weekly_file(pd.DataFrame({"week": [1], "gross": [None]}), tmp_path / "f.csv", release_date="2019-03-08")


def test_new_film_forecast_from_a_weekly_file(service, tmp_path):
    weeks = pd.DataFrame({"week": [1, 2], "gross": [50_000_000, 25_000_000], "theaters": [4000, 4000]})
    forecast = service.forecast_new_film(write_weekly_file(weeks, tmp_path / "f.csv", release_date="2019-03-08",
                                                           title="Captain Marvel"))
    assert forecast.origin_week == 2 and forecast.table["week"].tolist() == [3, 4, 5, 6]
    assert forecast.table["actual"].isna().all()


def test_model_page_tables(demo_storage):
    models = stored_models(demo_storage)
    assert set(models["model"]) == {"seq2seq", "seq2seq_attention"}
    assert models.set_index("model").loc["seq2seq_attention", "serving"]
    errors = pd.DataFrame({
        "split_kind": "by_film", "model": ["a", "a", "a", "b", "b", "b"], "seed": [0, 0, 1, 0, 0, 1],
        "grouping": ["overall", "horizon", "overall", "overall", "horizon", "overall"],
        "group": ["all", "1", "all", "all", "1", "all"],
        "wape": [0.2, 0.1, 0.3, 0.5, 0.4, 0.5], "mae": 1.0, "rmse": 2.0, "coverage_80": 0.8})
    table = evaluation_table(errors)
    assert table["model"].tolist() == ["a", "b"]
    assert table.loc[0, "wape"] == pytest.approx(0.25) and table.loc[0, "wape_h1"] == pytest.approx(0.1)
    assert table.loc[0, "seeds"] == 2


def test_the_evaluation_is_read_once_per_change_and_a_broken_file_keeps_the_last_good_copy(fresh_storage):
    service = FilmService(fresh_storage())
    assert service.stored_evaluation() is None and service.evaluation() is None
    errors = pd.DataFrame({"split_kind": "by_film", "model": ["a", "a"], "seed": 0, "grouping": ["overall", "horizon"],
                           "group": ["all", "1"], "wape": [0.2, 0.1], "mae": 1.0, "rmse": 2.0, "coverage_80": 0.8})
    path = write_parquet_atomic(errors, asset_path("forecast_evaluation", root=service.storage_dir))
    stored = service.stored_evaluation()
    pd.testing.assert_frame_equal(stored.errors, errors)
    assert stored.summary.loc[0, "wape_h1"] == pytest.approx(0.1) and service.evaluation() is stored.summary
    assert service.stored_evaluation() is stored  # not read again: the file did not change
    path.write_bytes(b"PAR1 half-written")
    assert service.stored_evaluation() is stored


def test_diagnostic_images_are_listed(tmp_path):
    (tmp_path / "decay_diagnostics").mkdir()
    (tmp_path / "decay_diagnostics" / "r2_histogram.png").write_bytes(b"png")
    assert diagnostic_images(tmp_path) == [(tmp_path / "decay_diagnostics" / "r2_histogram.png", "decay: r2 histogram")]
    assert not asset_path("forecast_evaluation", root=tmp_path).exists()


def test_forecasts_run_in_onnxruntime_when_the_export_matches_else_in_pytorch(fresh_storage, forecast_panel):
    storage = fresh_storage("seq2seq")
    film_id = _long_run(forecast_panel)
    onnx = FilmService(storage).forecast(film_id, 3)
    assert onnx.model.summary()["runtime"] == "onnxruntime"
    (model_dir(storage) / "seq2seq.onnx").unlink()
    torch_forecast = FilmService(storage).forecast(film_id, 3)
    assert torch_forecast.model.summary()["runtime"] == "pytorch"
    assert np.allclose(onnx.table[["p10", "p50", "p90"]], torch_forecast.table[["p10", "p50", "p90"]], rtol=1e-3)
