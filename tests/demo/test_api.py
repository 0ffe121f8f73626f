"""The demo's public API through gradio_client, against the app served on 127.0.0.1."""

import time

import pandas as pd
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from cineseq_assets.forecast.final_total import TAILS
from cineseq_assets.forecast.store import model_dir, model_folder


def _film(panel: pd.DataFrame, weeks_at_least: int = 8) -> pd.Series:
    """A wide film with a long run (its first row)."""
    runs = panel.groupby("film_id")["week"].max()
    film_id = runs[runs >= weeks_at_least].index[0]
    return panel[panel["film_id"] == film_id].sort_values("week")


def test_public_endpoints_are_the_documented_ones(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/forecast", "/new_film", "/model"}


def test_model_endpoint_names_the_serving_model(client, tiny_models):
    info = client.predict(api_name="/model")
    assert info["architecture"] == "seq2seq_attention"
    assert info["file"] == "seq2seq_attention.parquet"
    assert info["materialized_at"].endswith("UTC")
    best = min(tiny_models["seq2seq_attention"][0].history, key=lambda h: h["validation_wape"])
    assert info["validation_wape"] == pytest.approx(best["validation_wape"])


def test_latest_forecast_by_title_has_four_unknown_weeks_with_ordered_quantiles(client, forecast_panel):
    film = _film(forecast_panel)
    result = client.predict(film["title"].iloc[0], 0, api_name="/forecast")
    assert result["film_id"] == film["film_id"].iloc[0]
    assert result["origin_week"] == result["last_week"] == film["week"].max()
    rows = pd.DataFrame(result["rows"])
    assert rows["week"].tolist() == [result["last_week"] + h for h in (1, 2, 3, 4)]
    assert rows["actual"].isna().all()
    assert (rows["p10"] <= rows["p50"]).all() and (rows["p50"] <= rows["p90"]).all()
    assert (rows["p50"] > 0).all() and (rows["decay_baseline"] > 0).all()
    final = result["final_total"]
    assert final["gross_to_date"] == round(film["gross"].sum())
    assert final["gross_to_date"] <= final["p10"] <= final["p50"] <= final["p90"] and final["p50"] > final["gross_to_date"]
    assert final["multiplier_baseline"] >= final["gross_to_date"] and final["tail"] in TAILS


def test_backtest_from_an_origin_shows_what_really_happened(client, forecast_panel):
    film = _film(forecast_panel)
    film_id = film["film_id"].iloc[0]
    result = client.predict(film_id, 3, api_name="/forecast")
    rows = pd.DataFrame(result["rows"])
    assert result["origin_week"] == 3 and rows["week"].tolist() == [4, 5, 6, 7]
    expected = film.set_index("week").loc[[4, 5, 6, 7], "gross"].round(0).tolist()
    assert rows["actual"].tolist() == expected
    # the title, the "Title (year)" label and the id all name the same film
    by_title = client.predict(film["title"].iloc[0], 3, api_name="/forecast")
    assert by_title["rows"] == result["rows"]


def test_another_origin_gives_another_forecast(client, forecast_panel):
    film_id = _film(forecast_panel)["film_id"].iloc[0]
    first, later = (client.predict(film_id, origin, api_name="/forecast") for origin in (2, 5))
    assert first["rows"] != later["rows"]


@pytest.mark.parametrize("film, origin, message", [
    ("No Such Film Ever Made", 0, "no film 'No Such Film Ever Made'"),
    ("", 0, "no film given"),
    (None, 0, "no film given"),
])
def test_unknown_film_is_a_clear_error(client, film, origin, message):
    with pytest.raises(AppError, match=message):
        client.predict(film, origin, api_name="/forecast")


@pytest.mark.parametrize("origin, message", [
    (99, "outside this film's run: choose 1 to"),
    (-1, "whole number >= 0"),
    (2.5, "whole number >= 0"),
    ("three", "origin_week must be a whole number"),
])
def test_bad_origin_is_a_clear_error(client, forecast_panel, origin, message):
    film_id = _film(forecast_panel)["film_id"].iloc[0]
    with pytest.raises(AppError, match=message):
        client.predict(film_id, origin, api_name="/forecast")


def test_misspelt_title_gets_a_suggestion(client, forecast_panel):
    title = _film(forecast_panel)["title"].iloc[0]
    with pytest.raises(AppError, match="Did you mean"):
        client.predict(title[:-1] + "x", 0, api_name="/forecast")


def test_new_film_from_its_first_weeks(client):
    weeks = [{"week": 1, "gross": 31_570_799, "theaters": 2317}, {"week": 2, "gross": 19_536_764, "theaters": 2442},
             {"week": 3, "gross": 14_670_951, "theaters": 2442}]
    result = client.predict(weeks, "2016-11-11", "Arrival", ["Drama", "Science Fiction"], 47_000_000, "PG-13",
                            api_name="/new_film")
    rows = pd.DataFrame(result["rows"])
    assert result["title"] == "Arrival" and result["origin_week"] == 3
    assert rows["week"].tolist() == [4, 5, 6, 7]
    assert (rows["p10"] <= rows["p50"]).all() and (rows["p50"] <= rows["p90"]).all()
    assert rows["p50"].iloc[0] < 14_670_951 * 1.5  # a decaying run is not forecast to take off


@pytest.mark.parametrize("weeks, release, message", [
    ([{"week": 1, "gross": -5}], "2016-11-11", "column 'gross'"),
    ([{"week": 1, "gross": 1000}], "11/11/2016", "release_date"),
    ([{"week": 1}], "2016-11-11", "needs the columns week and gross"),
    ([], "2016-11-11", "weeks must be a list of rows"),
])
def test_new_film_bad_input_is_a_clear_error(client, weeks, release, message):
    with pytest.raises(AppError, match=message):
        client.predict(weeks, release, "Bad", [], None, "", api_name="/new_film")


def test_a_newly_materialized_model_is_used_without_a_restart(fresh_storage, serve_demo, forecast_panel):
    storage = fresh_storage("seq2seq_attention")
    client = Client(serve_demo(storage), verbose=False)
    film_id = _film(forecast_panel)["film_id"].iloc[0]
    before = client.predict(film_id, 0, api_name="/forecast")
    assert before["model"]["architecture"] == "seq2seq_attention"
    time.sleep(0.01)  # a later modification time
    model_folder(storage).publish("seq2seq", chosen_by="test")
    after = client.predict(film_id, 0, api_name="/forecast")
    assert after["model"]["architecture"] == "seq2seq"
    assert after["rows"] != before["rows"]


def test_without_a_model_the_api_says_how_to_materialize_one(fresh_storage, serve_demo, forecast_panel):
    storage = fresh_storage("seq2seq", models={})
    assert not (model_dir(storage) / "serving.json").exists()  # no model, nothing published
    client = Client(serve_demo(storage), verbose=False)
    with pytest.raises(AppError, match="Materialize forecast_model first"):
        client.predict(forecast_panel["film_id"].iloc[0], 0, api_name="/forecast")
    with pytest.raises(AppError, match="no trained forecaster"):
        client.predict(api_name="/model")


def test_binds_to_localhost_only(demo_url):
    assert demo_url.startswith("http://127.0.0.1:")


def test_upload_size_is_limited(demo_url, tmp_path):
    import httpx

    from demo.app import MAX_UPLOAD_BYTES

    big = tmp_path / "big.csv"
    with big.open("wb") as handle:
        handle.truncate(MAX_UPLOAD_BYTES + 1024)
    with big.open("rb") as handle:
        response = httpx.post(f"{demo_url}gradio_api/upload", files={"files": ("big.csv", handle)}, timeout=60)
    assert response.status_code == 413
