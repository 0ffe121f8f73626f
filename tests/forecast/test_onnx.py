"""The ONNX export reproduces the PyTorch networks, and OnnxForecaster serves it like a TrainedModel."""

import os
import shutil

import numpy as np
import pytest

from cineseq_assets.errors import CineSeqError
from cineseq_assets.forecast.onnx_export import OnnxForecaster, export_onnx
from cineseq_assets.forecast.predict import film_forecasts
from cineseq_assets.forecast.store import save_model
from cineseq_assets.forecast.windows import build_windows

ARCHITECTURES = ["seq2seq", "seq2seq_attention"]

TOLERANCE = 1e-4


@pytest.fixture(scope="session")
def exported(tiny_models, tmp_path_factory) -> dict:
    """architecture -> (TrainedModel, PreparedData, OnnxForecaster) from files written the production way."""
    folder = tmp_path_factory.mktemp("forecast_model")
    served = {}
    for architecture, (trained, data) in tiny_models.items():
        save_model(trained, folder / f"{architecture}.parquet")
        export_onnx(trained, folder / f"{architecture}.onnx")
        served[architecture] = (trained, data, OnnxForecaster(folder / f"{architecture}.onnx"))
    return served


def _live_and_backtest(trained, panel):
    windows = build_windows(panel, trained.train_config.encoder_length, min_targets=0)
    return windows.with_prior(trained.pooled, trained.train_config.prior)


def _max_difference(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_onnx_matches_pytorch_on_real_windows(exported, forecast_panel, architecture):
    trained, data, served = exported[architecture]
    for windows in (data.test, _live_and_backtest(trained, forecast_panel)):
        assert (windows.encoder_mask.sum(axis=1) < windows.encoder_mask.shape[1]).any()  # short histories
        torch_q, torch_a = trained.predict(windows)
        onnx_q, onnx_a = served.predict(windows)
        assert onnx_q.shape == torch_q.shape
        assert _max_difference(onnx_q, torch_q) <= TOLERANCE
        if architecture == "seq2seq_attention":
            assert onnx_a.shape == torch_a.shape == (len(windows), 4, trained.train_config.encoder_length)
            assert _max_difference(onnx_a, torch_a) <= TOLERANCE
            assert np.all(onnx_a[windows.encoder_mask[:, None, :].repeat(4, axis=1) == 0] < 1e-6)
        else:
            assert torch_a is None and onnx_a is None
    assert any(abs(w) > 0 for w in served.conformal)  # the widening is applied, and applied alike


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_onnx_batch_sizes_one_and_a_thousand(exported, architecture):
    trained, data, served = exported[architecture]
    windows = data.test
    one = served.predict(windows.subset([0]))[0]
    assert one.shape == (1, 4, 3)
    assert _max_difference(one, trained.predict(windows.subset([0]))[0]) <= TOLERANCE
    by_one = served.predict(windows, batch_size=1)[0]
    assert _max_difference(by_one, served.predict(windows)[0]) <= TOLERANCE
    many = windows.subset(np.resize(np.arange(len(windows)), 1000))
    assert _max_difference(served.predict(many)[0], trained.predict(many)[0]) <= TOLERANCE


def test_film_forecasts_from_onnx_equal_those_from_pytorch(exported, forecast_panel):
    trained, _, served = exported["seq2seq_attention"]
    films = forecast_panel[forecast_panel["film_id"].isin(forecast_panel["film_id"].unique()[:10])]
    from_torch = film_forecasts(trained, films)
    from_onnx = film_forecasts(served, films)
    keys = ["film_id", "origin_week", "horizon", "kind"]
    assert from_onnx[keys].equals(from_torch[keys])
    for column in ("p10", "p50", "p90"):
        np.testing.assert_allclose(from_onnx[column], from_torch[column], rtol=1e-3)


def test_missing_onnx_file_says_where_and_what_to_do(tmp_path, exported):
    missing = tmp_path / "seq2seq.onnx"
    with pytest.raises(CineSeqError) as error:
        OnnxForecaster(missing)
    assert str(missing) in str(error.value) and "Materialize forecast_model" in str(error.value)


def test_onnx_from_other_weights_is_refused(tmp_path, exported):
    """A .onnx left over from another training run must not serve beside new weights."""
    plain, attention = exported["seq2seq"][2], exported["seq2seq_attention"][2]
    shutil.copy(plain.weights_path, tmp_path / "seq2seq.parquet")
    shutil.copy(plain.weights_path.with_suffix(".booster.txt"), tmp_path / "seq2seq.booster.txt")
    shutil.copy(attention.path, tmp_path / "seq2seq.onnx")
    with pytest.raises(CineSeqError, match="not exported from the weights"):
        OnnxForecaster(tmp_path / "seq2seq.onnx")


def test_export_is_atomic_and_leaves_no_temporary_file(tmp_path, tiny_models):
    trained, _ = tiny_models["seq2seq"]
    path = export_onnx(trained, tmp_path / "model" / "seq2seq.onnx")
    assert path.exists() and [p.name for p in path.parent.iterdir()] == ["seq2seq.onnx"]


@pytest.mark.skipif(not os.environ.get("CINESEQ_SLOW_TESTS"), reason="the torch.export-based exporter takes 15-80 s; "
                    "set CINESEQ_SLOW_TESTS=1 to run it")
def test_dynamo_exporter_gives_the_same_graph_outputs(tmp_path, tiny_models):
    trained, data = tiny_models["seq2seq_attention"]
    save_model(trained, tmp_path / "seq2seq_attention.parquet")
    export_onnx(trained, tmp_path / "seq2seq_attention.onnx", dynamo=True)
    served = OnnxForecaster(tmp_path / "seq2seq_attention.onnx")
    for rows in ([0], np.arange(len(data.test))):
        windows = data.test.subset(rows)
        (torch_q, torch_a), (onnx_q, onnx_a) = trained.predict(windows), served.predict(windows)
        assert _max_difference(onnx_q, torch_q) <= TOLERANCE and _max_difference(onnx_a, torch_a) <= TOLERANCE
