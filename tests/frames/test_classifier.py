"""Training, stored classifiers and what they say about images, videos and films (a quick real run)."""

import numpy as np
import pytest

from cineseq_assets.errors import InputFileError, ModelError
from cineseq_assets.frames.classifier import (
    classifier_dir,
    classify_path,
    film_row,
    load_classifier,
    load_serving,
)
from cineseq_assets.frames.dataset import read_pixels
from cineseq_assets.frames.experiment import TEST_SETS, evaluation_table
from cineseq_assets.frames.labels import BUDGET_CLASSES
from cineseq_assets.frames.train import predict_pixels


def test_every_model_and_baseline_is_scored_on_both_test_sets(quick_result):
    evaluation = quick_result.evaluation
    for test_set in TEST_SETS:
        table = evaluation_table(evaluation, test_set).set_index("model")
        assert {"scratch", "transfer", "baseline_all_zero", "baseline_prevalence", "baseline_majority",
                "baseline_prior"} <= set(table.index)
        assert table.loc["scratch", ["genre_mean_auc", "budget_balanced_accuracy"]].notna().all()
        assert table.loc["baseline_all_zero", "genre_micro_f1"] == 0.0
    images = evaluation[evaluation["metric"] == "images"].set_index("test_set")["value"]
    assert images["trailer_frames"] == 50 and images["trailer_films"] == 10  # 5 frames of each of 10 films


def test_training_learns_and_keeps_its_best_validation_epoch(quick_result):
    for model in quick_result.models.values():
        losses = [h["train_loss"] for h in model.history]
        assert losses[-1] < losses[0]
        best = min(model.history, key=lambda h: h["val_loss"])
        assert model.best_epoch == best["epoch"]
    best_val_loss = {name: min(h["val_loss"] for h in model.history) for name, model in quick_result.models.items()}
    assert quick_result.serving == min(best_val_loss, key=best_val_loss.get)


def test_the_genre_set_comes_from_training_films(quick_result, labelled):
    assert len(quick_result.genres) == 10 and "Drama" in quick_result.genres
    assert set(quick_result.splits["split"]) == {"train", "val", "test", "trailer_test"}


@pytest.mark.parametrize("name", ["scratch", "transfer"])
def test_a_stored_classifier_predicts_what_the_trained_one_did(quick_result, frame_storage, labelled, name):
    model = quick_result.models[name]
    path = classifier_dir(frame_storage) / f"{name}_weights.parquet"
    loaded = load_classifier(path)
    pixels = read_pixels(labelled.trailer_frames["path"].head(6).tolist(), model.config.image_size)
    expected, loaded_probs = predict_pixels(model.net, pixels), predict_pixels(loaded.net, pixels)
    assert np.allclose(expected[0], loaded_probs[0], atol=1e-6) and np.allclose(expected[1], loaded_probs[1], atol=1e-6)
    assert loaded.genres == quick_result.genres and np.array_equal(loaded.thresholds, model.thresholds)


def test_a_transfer_checkpoint_leaves_out_the_imagenet_blocks(frame_storage):
    from cineseq_assets.weights import read_weights

    state, config, _ = read_weights(classifier_dir(frame_storage) / "transfer_weights.parquet")
    assert not any(key.startswith("trunk.frozen.") for key in state)
    assert config["train"]["kind"] == "transfer" and len(config["thresholds"]) == 10


def test_an_image_and_a_video_are_classified(frame_storage, media):
    classifier = load_serving(frame_storage)
    image = classify_path(classifier, media / "single_face.jpg")
    video = classify_path(classifier, media / "face_noface.mov")
    assert image.kind == "image" and image.frames == 1
    assert video.kind == "video" and video.frames == 2  # one frame per shot: the clip has one cut
    for result in (image, video):
        assert set(result.genres) == set(classifier.genres) and all(0 <= p <= 1 for p in result.genres.values())
        assert list(result.budget) == list(BUDGET_CLASSES) and abs(sum(result.budget.values()) - 1) < 1e-3
        assert result.predicted_budget in BUDGET_CLASSES


def test_bad_inputs_name_the_file(frame_storage, tmp_path):
    classifier = load_serving(frame_storage)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.jpg").write_text("not an image")
    for name, message in (("missing.jpg", "does not exist"), ("notes.txt", "unsupported extension"),
                          ("broken.jpg", "not a readable image")):
        with pytest.raises(InputFileError, match=message) as error:
            classify_path(classifier, tmp_path / name)
        assert name in str(error.value)


def test_a_storage_without_a_classifier_says_how_to_get_one(tmp_path):
    with pytest.raises(ModelError, match="frame_classifier"):
        load_serving(tmp_path)


def test_a_film_without_frames_is_recorded_as_missing(frame_storage):
    row = film_row(load_serving(frame_storage), "rl1", [])
    assert row["has_frames"] == 0 and np.isnan(row["frame_expected_budget_class"])
    assert np.isnan(row["frame_genre_Drama"]) and row["predicted_budget"] is None


def test_a_bits_in_file_name_folder_trains_directly(labelled, tmp_path):
    from cineseq_assets.frames.dataset import load_label_folder
    from cineseq_assets.frames.experiment import quick_config, run_experiment
    from cineseq_assets.frames.labels import DEFAULT_GENRES, export_folder

    export_folder(labelled.posters.head(90), DEFAULT_GENRES, tmp_path / "bits")
    data, warnings = load_label_folder(tmp_path / "bits")
    assert warnings == [] and data.label_set == DEFAULT_GENRES and data.trailer_frames.empty
    result = run_experiment(data, quick_config(max_films=60, epochs=1), log=lambda m: None,
                            checkpoint_dir=tmp_path / "checkpoints")
    assert result.genres == DEFAULT_GENRES and set(result.evaluation["test_set"]) == {"test_posters"}
    assert (result.splits.groupby("film")["split"].nunique() == 1).all()
    assert (tmp_path / "checkpoints" / "scratch.parquet").exists()


def test_constant_baselines_rank_nothing_on_every_test_set(quick_result):
    table = quick_result.evaluation
    auc = table[(table["model"] == "baseline_prevalence") & (table["metric"] == "mean_auc")]
    assert len(auc) == 3 and (auc["value"] == 0.5).all()
