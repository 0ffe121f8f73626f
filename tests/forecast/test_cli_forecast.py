"""`cineseq forecast`: real chart rows in, four weeks per film out, the unforecastable ones named.

The daily input is real rows of the raw Box Office Mojo chart, with exactly its columns:
Inception's first 7 weeks (a catalog film), The Sorcerer's Apprentice's first 4 weeks (not in
the bundled catalog, so its metadata comes from The Numbers + TMDB by title and year), Arrival's
first 10 days (one full week: forecast from week 1; a catalog film with Google Trends buzz) and
The Social Network's first 4 days (only a partial first week: rejected, the others still forecast).
"""

from __future__ import annotations

import csv
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.boxoffice.bundled import load_bundled
from cineseq_assets.boxoffice.metadata import with_bundled_metadata
from cineseq_assets.boxoffice.schema import POST_RELEASE_COLUMNS
from cineseq_assets.boxoffice.userfile import load_user_file
from cineseq_assets.cli import main
from cineseq_assets.forecast import store
from cineseq_assets.forecast.cli_forecast import FINAL_FILE_COLUMNS, FORECAST_FILE_COLUMNS, forecast_file
from cineseq_assets.forecast.new_films import film_panel_for_forecast

REPO = Path(__file__).resolve().parents[2]
WEEKLY_EXAMPLE = REPO / "examples" / "my_films_weekly.csv"
CHART = "data/raw/bom_daily_tjwaterman99/bom_daily_2000-01-01_2025-01-03.csv.gz"
INCEPTION, SORCERER, SOCIAL, ARRIVAL = "rl2908456449", "rl2540733953", "rl1802536449", "rl3195962881"
DAYS = {INCEPTION: 49, SORCERER: 28, ARRIVAL: 10, SOCIAL: 4}  # days of each run kept in the file
ORIGINS = {INCEPTION: 7, SORCERER: 4, ARRIVAL: 1}  # the last full week: where each forecast starts


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def chart_file(shared_dir, tmp_path_factory) -> Path:
    """The chart's own rows (every column, text as written) of the four films' first days."""
    path = tmp_path_factory.mktemp("chart") / "chart_rows.csv"
    with gzip.open(shared_dir / CHART, "rt", encoding="utf-8", newline="") as raw, \
            path.open("w", encoding="utf-8", newline="") as out:
        reader, writer = csv.reader(raw), csv.writer(out, lineterminator="\n")
        header = next(reader)
        film, day = header.index("release_id"), header.index("days_in_release")
        writer.writerow(header)
        writer.writerows(row for row in reader if row[film] in DAYS and row[day].isdigit()
                         and int(row[day]) <= DAYS[row[film]])
    return path


@pytest.fixture(scope="module")
def weights_file(save_tiny_model, tmp_path_factory) -> Path:
    """The tiny seq2seq of the shared conftest, saved the production way (weights + final total + ONNX)."""
    return save_tiny_model(tmp_path_factory.mktemp("weights"), onnx=True)


@pytest.fixture
def served_storage(isolated_project, weights_file) -> Path:
    """An isolated storage folder whose latest materialized forecast_model is the tiny seq2seq."""
    storage = Path(os.environ["CINESEQ_STORAGE"])
    folder = store.model_dir(storage)
    folder.mkdir(parents=True)
    for suffix in store.model_folder(storage).suffixes:  # weights, ONNX and the booster
        shutil.copy(weights_file.with_suffix(suffix), folder / f"seq2seq{suffix}")
    store.model_folder(storage).publish("seq2seq", chosen_by="test")
    return storage


def read_forecast(path: Path) -> pd.DataFrame:
    forecast = pd.read_csv(path, dtype={"film_id": str})
    assert list(forecast.columns) == FORECAST_FILE_COLUMNS
    return forecast


def assert_well_formed(forecast: pd.DataFrame, origins: dict[str, int]) -> None:
    """One row per film and horizon 1-4, weeks after the origin, finite dollar quantiles in order."""
    assert len(forecast) == 4 * len(origins)
    assert set(forecast["film_id"]) == set(origins)
    for film_id, rows in forecast.groupby("film_id"):
        assert rows["horizon"].tolist() == [1, 2, 3, 4]
        assert (rows["origin_week"] == origins[film_id]).all()
        assert (rows["week"] == rows["origin_week"] + rows["horizon"]).all()
    quantiles = forecast[["p10", "p50", "p90"]].to_numpy(dtype=float)
    assert np.isfinite(quantiles).all() and (quantiles > 0).all()
    assert (forecast["p10"] <= forecast["p50"]).all() and (forecast["p50"] <= forecast["p90"]).all()


# ----------------------------------------------------------------------------------- the CLI


def test_daily_chart_file_end_to_end(served_storage, chart_file, tmp_path, capsys):
    out = tmp_path / "forecast.csv"
    assert main(["forecast", "--input", str(chart_file), "--out", str(out)]) == 0
    forecast = read_forecast(out)
    assert_well_formed(forecast, ORIGINS)
    inception = forecast[forecast["film_id"] == INCEPTION]
    # Inception's week 7 grossed $6.9M and week 8 $6.8M: a sane model is within an order of magnitude.
    assert 5e5 < inception["p50"].iloc[0] < 5e7
    err = capsys.readouterr().err.splitlines()
    summary = next(line for line in err if line.startswith("forecast "))
    assert summary.startswith("forecast 3 films, rejected 1, model ")
    assert str(store.model_dir(served_storage) / "seq2seq.parquet") in summary and " s -> " in summary
    rejected = [line for line in err if line.startswith("rejected ")]
    assert len(rejected) == 1 and rejected[0].startswith(f"rejected {SOCIAL}: {chart_file}, film '{SOCIAL}', row ")
    assert "column 'date': only 0 full weeks from opening day 2010-10-01 (week 1 has 4 of 7 days)" in rejected[0]
    assert f"final totals -> {tmp_path / 'forecast_final.csv'}" in summary
    assert_final_totals(pd.read_csv(tmp_path / "forecast_final.csv", dtype={"film_id": str}), ORIGINS)


def assert_final_totals(final: pd.DataFrame, origins: dict[str, int]) -> None:
    """One row per film from its forecast's origin: at least the gross to date, quantiles in order."""
    assert list(final.columns) == FINAL_FILE_COLUMNS
    assert dict(zip(final["film_id"], final["origin_week"])) == origins
    assert (final["gross_to_date"] > 0).all() and (final["final_p10"] >= final["gross_to_date"]).all()
    assert (final["final_p10"] <= final["final_p50"]).all() and (final["final_p50"] <= final["final_p90"]).all()
    assert (final["multiplier_baseline"] >= final["gross_to_date"]).all()


def test_out_final_names_the_final_total_file_and_a_model_without_one_warns(served_storage, weights_file, tiny_models,
                                                                            tmp_path, capsys):
    out, out_final = tmp_path / "forecast.csv", tmp_path / "totals.csv"
    assert main(["forecast", "--input", str(WEEKLY_EXAMPLE), "--out", str(out), "--out-final", str(out_final)]) == 0
    films = ["arrival-2016", "inception-2010", "the-social-network-2010"]
    assert_final_totals(pd.read_csv(out_final, dtype={"film_id": str}), dict.fromkeys(films, 7))
    inception = pd.read_csv(out_final).set_index("film_id").loc["inception-2010"]
    assert inception["final_p50"] > inception["gross_to_date"]
    older = store.save_model(tiny_models["seq2seq"][0], tmp_path / "older" / "seq2seq.parquet")  # saved without one
    capsys.readouterr()
    assert main(["forecast", "--input", str(WEEKLY_EXAMPLE), "--out", str(tmp_path / "b.csv"), "--model", str(older)]) == 0
    assert "warning: no final domestic totals: seq2seq.parquet was stored without them" in capsys.readouterr().err
    assert not (tmp_path / "b_final.csv").exists() and read_forecast(tmp_path / "b.csv").shape[0] == 12


def test_weekly_example_through_the_installed_command(served_storage, tmp_path):
    out = tmp_path / "weekly_forecast.csv"
    command = shutil.which("cineseq", path=str(Path(sys.executable).parent)) or shutil.which("cineseq")
    assert command, "the cineseq command is not installed in this environment (pip install -e .)"
    done = subprocess.run([command, "forecast", "--input", str(WEEKLY_EXAMPLE), "--out", str(out)],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "forecast 3 films, rejected 0" in done.stderr
    films = ["arrival-2016", "inception-2010", "the-social-network-2010"]
    assert_well_formed(read_forecast(out), dict.fromkeys(films, 7))


def test_model_option_and_onnx_serve_the_same_forecast(isolated_project, weights_file, tmp_path, capsys):
    """--model needs no materialized model; --onnx runs the same network through onnxruntime."""
    torch_out, onnx_out = tmp_path / "torch.csv", tmp_path / "onnx.csv"
    arguments = ["forecast", "--input", str(WEEKLY_EXAMPLE), "--model", str(weights_file)]
    assert main([*arguments, "--out", str(torch_out)]) == 0
    assert main([*arguments, "--out", str(onnx_out), "--onnx"]) == 0
    assert f"model {weights_file.with_suffix('.onnx')}" in capsys.readouterr().err
    by_torch, by_onnx = read_forecast(torch_out), read_forecast(onnx_out)
    pd.testing.assert_frame_equal(by_torch.drop(columns=["p10", "p50", "p90"]),
                                  by_onnx.drop(columns=["p10", "p50", "p90"]))
    for quantile in ("p10", "p50", "p90"):  # whole dollars; float32 networks agree to ~1e-4 in log space
        np.testing.assert_allclose(by_onnx[quantile], by_torch[quantile], rtol=1e-3, atol=1)


def test_no_materialized_model_is_an_error_with_a_fix(isolated_project, chart_file, tmp_path, capsys):
    out = tmp_path / "forecast.csv"
    assert main(["forecast", "--input", str(chart_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    folder = store.model_dir(Path(os.environ["CINESEQ_STORAGE"]))
    assert err.startswith(f"error: {folder}: no trained forecaster") and err.count("\n") == 1
    assert "Materialize forecast_model" in err and not out.exists()


def test_a_file_that_is_not_a_model_is_named(isolated_project, tmp_path, capsys):
    out = tmp_path / "forecast.csv"
    assert main(["forecast", "--input", str(WEEKLY_EXAMPLE), "--out", str(out), "--model", str(WEEKLY_EXAMPLE)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {WEEKLY_EXAMPLE}: not a CineSeq forecast model") and not out.exists()


def test_a_missing_input_file_is_an_error(served_storage, tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    assert main(["forecast", "--input", str(missing), "--out", str(tmp_path / "f.csv")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {missing}: does not exist")


def test_no_film_forecast_writes_the_header_and_fails(served_storage, chart_file, tmp_path, capsys):
    partial_only = tmp_path / "partial.csv"
    rows = pd.read_csv(chart_file, dtype=str, keep_default_na=False)
    rows[rows["release_id"] == SOCIAL].to_csv(partial_only, index=False)
    out = tmp_path / "forecast.csv"
    assert main(["forecast", "--input", str(partial_only), "--out", str(out)]) == 1
    assert read_forecast(out).empty
    err = capsys.readouterr().err
    assert "forecast 0 films, rejected 1" in err and f"rejected {SOCIAL}: " in err


# ---------------------------------------------------------------------------- the domain code


def test_film_outside_the_catalog_gets_bundled_metadata(chart_file):
    assert SORCERER not in set(load_bundled().films["film_id"])
    data = load_user_file(chart_file, min_weeks=1)
    data.films = with_bundled_metadata(data.films)
    panel = film_panel_for_forecast(data, SORCERER, market=None)
    assert panel["week"].tolist() == [1, 2, 3, 4]
    film = panel.iloc[0]
    assert film["budget"] == 160_000_000 and film["mpaa"] == "PG" and film["runtime"] == 108
    assert {"Fantasy", "Adventure", "Action"} <= set(film["genres"].split("|")) and film["has_metadata"] == 1


@pytest.mark.parametrize("film_id", [INCEPTION, ARRIVAL], ids=["inception", "arrival"])
def test_catalog_film_panel_equals_the_bundled_one(chart_file, film_id):
    """A catalog film from chart rows gets the panel rows the weekly_panel asset builds for it,
    its Google Trends buzz included (Arrival has some)."""
    from cineseq_assets.boxoffice.bundled import bundled_trends
    from cineseq_assets.boxoffice.features import MarketCalendar
    from cineseq_assets.boxoffice.panel import film_panel

    bundled = load_bundled()
    market = MarketCalendar(bundled.market)
    data = load_user_file(chart_file, min_weeks=1)
    data.films = with_bundled_metadata(data.films)
    ours = film_panel_for_forecast(data, film_id, market)
    theirs = film_panel(bundled, film_id, market, trends=bundled_trends().get(film_id)).iloc[: len(ours)]
    # Snapshots taken years after release (TMDB votes, YouTube counts) are in the catalog only; no model uses them.
    later = [*POST_RELEASE_COLUMNS, "buzz_youtube_views", "buzz_youtube_likes", "has_youtube"]
    assert len(ours) == ORIGINS[film_id] and ours["has_trends"].eq(int(film_id == ARRIVAL)).all()
    pd.testing.assert_frame_equal(ours.drop(columns=later), theirs.drop(columns=later), check_dtype=False)


def test_forecast_file_returns_the_table_and_the_rejections(tiny_models, chart_file):
    trained, _ = tiny_models["seq2seq"]
    warnings: list[str] = []
    forecast, rejected = forecast_file(chart_file, trained, warnings=warnings)
    assert list(forecast.columns) == FORECAST_FILE_COLUMNS
    assert_well_formed(forecast, ORIGINS)
    assert set(rejected) == {SOCIAL} and "at least 1 is needed to forecast" in rejected[SOCIAL]
    assert forecast["origin_week"].dtype == np.int64 and forecast["p50"].dtype == np.float64
