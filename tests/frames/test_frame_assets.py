"""The frame assets through Dagster: a short training run on a small subset, representative frames
of a real clip, film-level predictions; and `cineseq classify` as a process."""

import json
import os
import subprocess
import sys

import dagster as dg
import pandas as pd
import pytest

from cineseq_assets.frames.classifier import classifier_dir
from cineseq_assets.partitions import films_partitions

INCEPTION, GRAND_BUDAPEST = "rl2908456449", "rl475497985"
QUICK = {"max_films": 30, "max_frames_per_trailer_film": 3, "epochs": 1, "finetune": False}


@pytest.fixture
def materialize(instance, storage_root):
    """``materialize(keys, run_config, tags)``: a run of the code location rooted at ``storage_root``
    (built when called, after the test has set the trailer manifest)."""
    from cineseq_assets.definitions import build_definitions

    def run(keys, run_config=None, tags=None):
        job = build_definitions(storage_root).resolve_implicit_global_asset_job_def()
        return job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(k) for k in keys],
                                      run_config=run_config or {}, tags=tags or {}, raise_on_error=False)

    return run


@pytest.mark.usefixtures("environment_storage_untouched")
def test_frame_assets_train_choose_frames_and_predict_per_film(instance, monkeypatch, tmp_path, media, materialize, stored):
    manifest = tmp_path / "trailers.csv"
    pd.DataFrame({"film_id": [INCEPTION], "path": [str(media / "face_noface.mov")]}).to_csv(manifest, index=False)
    monkeypatch.setenv("CINESEQ_TRAILER_MANIFEST", str(manifest))
    instance.add_dynamic_partitions(films_partitions.name, [INCEPTION, GRAND_BUDAPEST])

    trained = materialize(["frame_classifier"], {"ops": {"frame_classifier": {"config": QUICK}}})
    assert trained.success
    assert {e.check_name: e.passed for e in trained.get_asset_check_evaluations()} == {"frame_classifier_sanity": True}
    evaluation = stored.read("frame_classifier")
    assert {"scratch", "transfer", "baseline_prevalence", "baseline_prior"} <= set(evaluation["model"])
    folder = classifier_dir(stored.root)
    assert (folder / "serving.json").exists() and (folder / "scratch_weights.parquet").exists()
    assert (folder / "splits.parquet").exists() and (folder / "checkpoints" / "transfer.parquet").exists()
    metadata = instance.get_latest_materialization_event(dg.AssetKey("frame_classifier")).asset_materialization.metadata
    assert "evaluation_test_posters" in metadata and "budget_join" in metadata

    both = {"dagster/asset_partition_range_start": INCEPTION, "dagster/asset_partition_range_end": GRAND_BUDAPEST}
    assert materialize(["representative_frames", "frame_predictions"], tags=both).success
    frames = stored.read_partitions("representative_frames").set_index("film_id")
    assert frames.loc[INCEPTION, "thumbnail"].map(os.path.exists).all() and len(frames.loc[INCEPTION]) == 2
    assert frames.loc[GRAND_BUDAPEST, "has_trailer"] == 0
    predictions = stored.read_partitions("frame_predictions").set_index("film_id")
    assert predictions.loc[INCEPTION, "has_frames"] == 1 and predictions.loc[INCEPTION, "frames"] == 2
    assert predictions.loc[GRAND_BUDAPEST, "has_frames"] == 0
    budget = predictions.loc[INCEPTION, [c for c in predictions.columns if c.startswith("frame_budget_")]]
    assert abs(budget.sum() - 1) < 1e-3


def test_a_failed_training_run_keeps_the_stored_classifier(instance, tmp_path, materialize, stored):
    first = materialize(["frame_classifier"], {"ops": {"frame_classifier": {"config": QUICK}}})
    assert first.success
    folder = classifier_dir(stored.root)
    serving = folder / "serving.json"
    before = serving.read_text()
    weights = (folder / "scratch_weights.parquet").read_bytes()
    broken = {**QUICK, "label_folder": str(tmp_path / "no_such_folder")}
    assert not materialize(["frame_classifier"], {"ops": {"frame_classifier": {"config": broken}}}).success
    assert serving.read_text() == before and (folder / "scratch_weights.parquet").read_bytes() == weights


def _classify(*args, storage_dir):
    env = {**os.environ, "CINESEQ_STORAGE": str(storage_dir)}
    return subprocess.run([sys.executable, "-m", "cineseq_assets.cli", "classify", *map(str, args)],
                          capture_output=True, text=True, env=env)


def test_cli_classify_prints_json_for_an_image_and_a_clip(frame_storage, media):
    done = _classify(media / "single_face.jpg", media / "face_noface.mov", "--json", storage_dir=frame_storage)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert [line["path"] for line in lines] == [str(media / "single_face.jpg"), str(media / "face_noface.mov")]
    for line in lines:
        assert set(line) == {"path", "genres", "budget"} and len(line["genres"]) == 10 and len(line["budget"]) == 5


def test_cli_classify_reports_a_bad_path_and_still_classifies_the_others(frame_storage, media, tmp_path):
    done = _classify(tmp_path / "missing.mp4", media / "gauss.png", storage_dir=frame_storage)
    assert done.returncode == 2
    assert "missing.mp4" in done.stderr and "does not exist" in done.stderr
    assert "gauss.png (1 image)" in done.stdout and "budget:" in done.stdout


def test_cli_classify_without_a_model_says_how_to_train_one(tmp_path, media):
    done = _classify(media / "gauss.png", storage_dir=tmp_path)
    assert done.returncode == 2 and "frame_classifier" in done.stderr
