"""The benchmark's peers (benchmarks/peers.py): leakage-safe features, cut series, and the side-by-side
scoring of methods that cover different rows. The peers' own packages are optional (the bench extra)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.forecast.baselines import pooled_decay
from cineseq_assets.forecast.evaluate import EvaluationConfig, evaluate
from cineseq_assets.forecast.train import TrainConfig, prepare

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "peers.py"


@pytest.fixture(scope="module")
def peers(load_script):
    """benchmarks/ is not a package, so the module is loaded from its file."""
    return load_script(SCRIPT)


@pytest.fixture(scope="module")
def data(forecast_panel):
    return prepare(forecast_panel, TrainConfig())


def _change_after(panel: pd.DataFrame, film: str, origin: int) -> pd.DataFrame:
    """The panel with every week after ``origin`` of ``film`` changed (gross, theaters, dates kept)."""
    changed = panel.copy()
    later = (changed["film_id"] == film) & (changed["week"] > origin)
    changed.loc[later, "gross"] *= 3.0
    changed.loc[later, "theaters"] = changed.loc[later, "theaters"] + 500
    return changed


def test_direct_features_read_only_weeks_up_to_the_origin(peers, forecast_panel):
    film = forecast_panel["film_id"].iloc[0]
    origins = pd.DataFrame({"film_id": [film] * 4, "origin": [1, 2, 3, 5]})
    for origin in (1, 2, 3, 5):
        rows = origins[origins["origin"] == origin]
        before = peers.direct_features(peers.film_weeks(forecast_panel), rows)
        after = peers.direct_features(peers.film_weeks(_change_after(forecast_panel, film, origin)), rows)
        assert len(before) == 4 and list(before.columns[1:]) == peers.DIRECT_FEATURES
        pd.testing.assert_frame_equal(before, after)
    # and the change is seen from the week it happens
    third = origins.iloc[[2]]
    moved = peers.direct_features(peers.film_weeks(_change_after(forecast_panel, film, 2)), third)
    kept = peers.direct_features(peers.film_weeks(forecast_panel), third)
    assert not np.allclose(moved["log_gross"], kept["log_gross"])


def test_direct_training_target_is_the_log_ratio_to_the_origin_week(peers, forecast_panel):
    series = peers.film_weeks(forecast_panel[forecast_panel["film_id"] == forecast_panel["film_id"].iloc[0]])
    features, target = peers.direct_training_rows(series)
    y = series.set_index("week")["y"]
    weeks = len(series)
    assert len(features) == sum(min(4, weeks - t) for t in range(1, weeks + 1))
    for (_, row), value in zip(features.iterrows(), target):
        assert value == pytest.approx(y[int(row["origin"] + row["horizon"])] - y[int(row["origin"])])


def test_cut_series_hold_weeks_up_to_the_origin_and_the_calendar_ahead(peers, forecast_panel, data):
    series = peers.film_weeks(forecast_panel)
    windows = data.test.subset(slice(0, 12))
    cut = peers.cut_series(series, windows)
    origin = cut["unique_id"].str.split("@").str[1].astype(int)
    assert (cut["ds"] <= origin).all()
    assert cut.groupby("unique_id").size().to_dict() == dict(zip(peers.origins_of(windows)["unique_id"], windows.origin))
    future = peers.future_calendar(series, windows)
    assert len(future) == 4 * len(windows)
    # the origin's theaters carry forward: nothing of weeks after t is read
    last = cut.groupby("unique_id")["log_theaters"].last()
    assert np.allclose(future["log_theaters_prev"], future["unique_id"].map(last))


def test_quantile_array_leaves_uncovered_rows_missing(peers, data):
    windows = data.test.subset(slice(0, 3))
    ids = peers.origins_of(windows)["unique_id"]
    forecast = pd.DataFrame({"unique_id": [ids[0], ids[0], ids[2]],
                             "ds": [windows.origin[0] + 1, windows.origin[0] + 4, windows.origin[2] + 2], "p50": [1.0, 2.0, 3.0]})
    out = peers.quantile_array(windows, forecast, (None, "p50", None))
    assert out.shape == (3, 4, 3) and np.isnan(out[..., [0, 2]]).all()
    assert out[0, 0, 1] == 1.0 and out[0, 3, 1] == 2.0 and out[2, 1, 1] == 3.0
    assert np.isnan(out[1, :, 1]).all() and np.isnan(out[0, 1:3, 1]).all()


def _frame(model: str, p50: list[float], p10=None, p90=None) -> pd.DataFrame:
    actual = [100.0, 200.0, 300.0, 400.0]
    return pd.DataFrame({"film_id": ["a", "a", "b", "b"], "origin_week": [2, 2, 3, 3], "horizon": [1, 2, 1, 2],
                         "p10": p10 or [np.nan] * 4, "p50": p50, "p90": p90 or [np.nan] * 4, "actual": actual,
                         "split_kind": "by_film", "seed": 0, "model": model})


def test_a_method_that_covers_fewer_rows_is_scored_on_them_beside_the_reference(peers):
    forecasts = pd.concat([
        _frame("reference", [110.0, 180.0, 330.0, 400.0], p10=[90.0, 150.0, 250.0, 410.0], p90=[120.0, 250.0, 350.0, 500.0]),
        _frame("partial", [100.0, np.nan, 300.0, np.nan]),  # film b horizon 2 and film a horizon 2 not forecast
        _frame("complete", [150.0, 200.0, 300.0, 400.0]),
    ], ignore_index=True)
    runs = pd.DataFrame({"split_kind": "by_film", "seed": 0, "model": ["reference", "partial", "complete"],
                         "seconds": [3.0, 1.0, 2.0], "predict_seconds": [0.1, 0.2, 0.3]})
    scores = peers.side_by_side(forecasts, runs, "by_film", "reference", peers=("partial", "complete"))
    assert scores.loc["partial", "rows"] == 2 and scores.loc["partial", "of"] == 4
    assert scores.loc["partial", "wape"] == 0.0
    # the reference on the same two rows: |110-100| + |330-300| over 100 + 300
    assert scores.loc["partial", "reference_wape_same_rows"] == pytest.approx(40 / 400)
    assert np.isnan(scores.loc["complete", "reference_wape_same_rows"])  # complete: compared on all rows anyway
    assert scores.loc["reference", "wape"] == pytest.approx((10 + 20 + 30 + 0) / 1000)
    assert scores.loc["reference", "cover80"] == pytest.approx(0.75)  # 400 lies below its p10 of 410
    assert scores.loc["reference", "h2"] == pytest.approx(20 / 600)
    # the partial peer is perfect on its rows, but only a peer that forecasts every row can be the best
    assert peers.best_peer(scores) == "complete"
    assert "2 / 4" in peers.format_table(scores, "reference")


def test_the_side_by_side_table_is_recorded_as_metadata_of_forecast_evaluation(peers, load_script, monkeypatch):
    import dagster as dg

    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # the benchmark imports its peers module as a script would
    benchmark = load_script(SCRIPT.parent / "forecast.py")
    forecasts = pd.concat([_frame("reference", [110.0, 180.0, 330.0, 400.0]), _frame("complete", [150.0, 200.0, 300.0, 400.0])])
    runs = pd.DataFrame({"split_kind": "by_film", "seed": 0, "model": ["reference", "complete"], "seconds": [3.0, 2.0],
                         "predict_seconds": [0.1, 0.3]})
    scores = peers.side_by_side(forecasts, runs, "by_film", "reference", peers=("complete",))
    with dg.DagsterInstance.ephemeral() as instance:
        benchmark.record_peers(instance, {"by_film": scores}, "reference", "--peers --split by_film")
        observed = instance.fetch_observations(dg.AssetKey("forecast_evaluation"), limit=1).records[0]
    metadata = observed.asset_observation.metadata
    assert metadata["best_peer_by_film"].value == "complete"
    assert metadata["margin_over_best_peer_by_film"].value == pytest.approx((60 / 1000) / (50 / 1000) - 1)
    assert "complete (peer)" in metadata["peers_by_film"].md_str
    assert metadata["benchmark"].value == "benchmarks/forecast.py --peers --split by_film"


def test_the_evaluation_scores_extra_forecasters_by_name(peers, forecast_panel):
    extra = {"direct_lightgbm": peers.peer_forecasters(forecast_panel)["direct_lightgbm"]}
    config = EvaluationConfig(seeds=(0,), split_kinds=("by_film",), networks=(), baselines=("naive",),
                              extra_forecasters=extra)
    result = evaluate(forecast_panel, config, progress=lambda _: None)
    assert set(result.forecasts["model"]) == {"naive", "direct_lightgbm"}
    assert result.forecasts["p50"].notna().all()


def test_autoets_falls_back_to_the_pooled_decay_for_short_histories(peers, forecast_panel, data):
    pytest.importorskip("statsforecast")
    forecaster = peers.peer_forecasters(forecast_panel)["autoets"](TrainConfig()).fit(data)
    quantiles = forecaster.predict(data.test)
    short = data.test.origin < peers.MIN_ETS_WEEKS
    assert forecaster.fit_report() == {"fallback_windows": int(short.sum()), "windows": len(data.test)}
    np.testing.assert_allclose(quantiles[short, :, 1], pooled_decay(data.test.subset(short), data.pooled))
    assert np.isfinite(quantiles[~short]).all()  # AutoETS with its 80% band


@pytest.mark.parametrize("name", ["mlforecast_lightgbm", "nhits"])
def test_library_peers_forecast_every_test_row(peers, forecast_panel, data, name):
    pytest.importorskip({"mlforecast_lightgbm": "mlforecast", "nhits": "neuralforecast"}[name])
    make = peers.peer_forecasters(forecast_panel)[name]
    if name == "nhits":
        make = partial(make, max_steps=5)
    quantiles = make(TrainConfig()).fit(data).predict(data.test)
    assert quantiles.shape == (len(data.test), 4, 3)
    assert np.isfinite(quantiles[..., 1]).all()
