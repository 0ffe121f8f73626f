"""Checks on every trained model: finite weights, output shapes, probabilities, ordered quantiles; the
forecaster's asset check on a sound and on a broken stored model; the frame classifier's on real weights."""

import numpy as np
import torch

from cineseq_assets.forecast.checks import forecast_model_sanity
from cineseq_assets.forecast.prepared import save_prepared
from cineseq_assets.forecast.store import MODEL_DIR, save_model
from cineseq_assets.frames.checks import frame_classifier_sanity
from cineseq_assets.model_checks import non_finite_weights, probability_problems, probe_images, quantile_problems
from cineseq_assets.resources import ArtifactStore


def test_weights_with_nan_or_inf_are_named(tiny_models):
    trained, _ = tiny_models["seq2seq"]
    state = {name: tensor.numpy().copy() for name, tensor in trained.model.state_dict().items()}
    assert non_finite_weights(state) == []
    name = next(iter(state))
    state[name].flat[:2] = [np.nan, np.inf]
    assert non_finite_weights(state) == [f"{name}: 2 of {state[name].size} values are not finite"]


def test_the_forecasters_quantiles_are_ordered_and_crossings_are_counted(tiny_models):
    trained, data = tiny_models["seq2seq_attention"]
    quantiles, _ = trained.predict(data.validation)
    assert quantile_problems(quantiles, len(data.validation), 4) == []
    crossed = quantiles.copy()
    crossed[0, 0, 0] = crossed[0, 0, 1] + 1
    assert quantile_problems(crossed, len(data.validation), 4) == [
        f"1 of {len(data.validation) * 4} window-horizons have p10 > p50 or p50 > p90"]
    assert quantile_problems(quantiles[:, :3], len(data.validation), 4)[0].startswith("the quantile forecast has shape")


def test_probabilities_must_be_probabilities():
    good = np.full((4, 5), 0.2)
    assert probability_problems(good, 4, 5, "budget") == []
    assert probability_problems(good * 6, 4, 5, "budget") == ["budget has values outside [0, 1]"]
    assert "not 1" in probability_problems(good / 2, 4, 5, "budget")[0]
    assert probability_problems(good / 2, 4, 5, "genres", sums_to_one=False) == []
    assert "shape (4, 5), expected (4, 6)" in probability_problems(good, 4, 6, "budget")[0]
    assert len(probe_images()) == 4 and all(np.array_equal(a, b) for a, b in zip(probe_images(), probe_images()))


def _store_forecaster(root, trained, data):
    artifacts = ArtifactStore(base_dir=str(root))
    save_prepared(data, trained.train_config, artifacts.folder("training_windows"))
    save_model(trained, artifacts.path(MODEL_DIR, f"{trained.architecture}.parquet"))
    return artifacts


def test_the_forecaster_check_passes_a_sound_model_and_fails_a_broken_one(tiny_models, tmp_path):
    trained, data = tiny_models["seq2seq"]
    sound = forecast_model_sanity(artifacts=_store_forecaster(tmp_path / "sound", trained, data))
    assert sound.passed and sound.metadata["models"].value == ["seq2seq"]

    broken = trained.model.__class__(trained.model_config)
    broken.load_state_dict(trained.model.state_dict())
    with torch.no_grad():
        next(broken.parameters()).fill_(float("nan"))
    trained_broken = type(trained)(**{**trained.__dict__, "model": broken})
    result = forecast_model_sanity(artifacts=_store_forecaster(tmp_path / "broken", trained_broken, data))
    assert not result.passed
    assert "seq2seq.parquet" in result.description and "not finite" in result.description


def test_the_frame_classifier_check_passes_the_trained_classifier(frame_storage):
    result = frame_classifier_sanity(artifacts=ArtifactStore(base_dir=str(frame_storage)))
    assert result.passed, result.description
    assert {"scratch_weights", "transfer_weights"} <= set(result.metadata["models"].value)
