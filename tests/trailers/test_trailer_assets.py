"""trailer_emotion through Dagster on real clips, the bad-trailer case, and `cineseq trailer`."""

import json
import subprocess
import sys

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from cineseq_assets.partitions import films_partitions
from cineseq_assets.trailers.embedding import EMBEDDING_COLUMNS

INCEPTION, GRAND_BUDAPEST, ENDGAME = "rl2908456449", "rl475497985", "rl3059975681"


def _manifest(tmp_path, entries):
    path = tmp_path / "trailers.csv"
    pd.DataFrame(entries, columns=["film_id", "path"]).to_csv(path, index=False)
    return path


@pytest.fixture
def job(storage_root):
    """``job()``: the asset job of the code location rooted at ``storage_root``, built when called (after
    the test has set the trailer manifest)."""
    from cineseq_assets.definitions import build_definitions

    return lambda: build_definitions(storage_root).resolve_implicit_global_asset_job_def()


def _run(job, instance, tags):
    return job().execute_in_process(instance=instance, asset_selection=[dg.AssetKey("trailer_emotion")], tags=tags,
                                    raise_on_error=False)


RANGE = {"dagster/asset_partition_range_start": INCEPTION, "dagster/asset_partition_range_end": ENDGAME}


@pytest.mark.usefixtures("environment_storage_untouched")
def test_trailers_become_embeddings_and_films_without_one_are_recorded_missing(instance, monkeypatch, tmp_path, shared_dir,
                                                                                job, stored):
    media = shared_dir / "media"
    manifest = _manifest(tmp_path, [(INCEPTION, media / "single_face.mp4"), (ENDGAME, media / "face_noface.mov")])
    monkeypatch.setenv("CINESEQ_TRAILER_MANIFEST", str(manifest))
    instance.add_dynamic_partitions(films_partitions.name, [INCEPTION, GRAND_BUDAPEST, ENDGAME])
    assert _run(job, instance, RANGE).success
    rows = stored.read_partitions("trailer_emotion")
    by_film = rows.set_index("film_id")
    assert by_film.loc[INCEPTION, "has_trailer"] == 1 and by_film.loc[GRAND_BUDAPEST, "has_trailer"] == 0
    assert set(EMBEDDING_COLUMNS) <= set(rows.columns)
    assert by_film.loc[INCEPTION, "face_presence_ratio"] == 1.0
    assert 0 < by_film.loc[ENDGAME, "face_presence_ratio"] < 1  # a face, then no face
    assert np.isnan(by_film.loc[GRAND_BUDAPEST, "valence_mean"])
    assert (stored.folder("trailer_emotion_plots") / f"{INCEPTION}.png").exists()


def test_a_corrupt_trailer_fails_only_its_film(instance, monkeypatch, tmp_path, shared_dir, job):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes((shared_dir / "media" / "single_face.mp4").read_bytes()[:3000])
    manifest = _manifest(tmp_path, [(INCEPTION, shared_dir / "media" / "single_face.mp4"), (ENDGAME, broken)])
    monkeypatch.setenv("CINESEQ_TRAILER_MANIFEST", str(manifest))
    instance.add_dynamic_partitions(films_partitions.name, [INCEPTION, GRAND_BUDAPEST, ENDGAME])
    result = _run(job, instance, RANGE)
    assert not result.success
    assert instance.get_materialized_partitions(dg.AssetKey("trailer_emotion")) == {INCEPTION, GRAND_BUDAPEST}
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert ENDGAME in failure.event_specific_data.error.message and "broken.mp4" in failure.event_specific_data.error.message


def test_cli_trailer_writes_the_embedding_and_a_json_summary(tmp_path, shared_dir):
    out = tmp_path / "embedding.parquet"
    done = subprocess.run([sys.executable, "-m", "cineseq_assets.cli", "trailer", str(shared_dir / "media" / "no_face.mp4"),
                           "--out", str(out), "--json", "--emotion-model", "teacher"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["frames_sampled"] >= 7 and summary["faces_found"] == 0 and summary["emotion_model"] == "fer_mini_xception"
    row = pd.read_parquet(out)
    assert row.loc[0, "has_faces"] == 0 and row.loc[0, "has_audio"] == 1


def test_cli_trailer_names_a_bad_file(tmp_path):
    bogus = tmp_path / "trailer.mp4"
    bogus.write_bytes(b"not a video at all")
    done = subprocess.run([sys.executable, "-m", "cineseq_assets.cli", "trailer", str(bogus)], capture_output=True, text=True)
    assert done.returncode == 2 and "trailer.mp4" in done.stderr


@pytest.mark.usefixtures("environment_storage_untouched")
def test_student_trains_through_dagster_and_trailer_emotion_then_uses_it(instance, monkeypatch, tmp_path, shared_dir,
                                                                         job, stored):
    quick = {"ops": {"trailer_emotion_student": {"config": {
        "epochs": 1, "max_film_sources": 40, "max_train_crops": 400, "time_budget_s": 20}}}}
    gated = job().execute_in_process(instance=instance, asset_selection=[dg.AssetKey("trailer_emotion_student")],
                                     run_config=quick, raise_on_error=False)
    assert gated.success  # a one-epoch student is far below the 85% agreement gate: kept, not deployed
    assert {e.check_name: e.passed for e in gated.get_asset_check_evaluations()} == {"trailer_emotion_student_sanity": True}
    assert not (stored.folder("trailer_emotion_student") / "student.onnx").exists()
    assert not (stored.folder("trailer_emotion_student") / "serving.json").exists()  # nothing published
    quick["ops"]["trailer_emotion_student"]["config"]["deploy_below_gate"] = True
    result = job().execute_in_process(instance=instance, asset_selection=[dg.AssetKey("trailer_emotion_student")],
                                      run_config=quick, raise_on_error=False)
    assert result.success
    meta = instance.get_latest_materialization_event(dg.AssetKey("trailer_emotion_student")).asset_materialization.metadata
    assert 0 <= meta["test_agreement"].value <= 1 and meta["test_sources"].value > 0
    curve = meta["learning_curve"].value  # one row per epoch, the best marked
    assert "val_agreement" in curve and "True" in curve
    student_dir = stored.folder("trailer_emotion_student")
    assert {p.name for p in student_dir.iterdir()} == {"student.onnx", "student_weights.parquet", "serving.json",
                                                     "student_candidate.onnx", "student_candidate_weights.parquet"}

    manifest = _manifest(tmp_path, [(INCEPTION, shared_dir / "media" / "single_face.mp4")])
    monkeypatch.setenv("CINESEQ_TRAILER_MANIFEST", str(manifest))
    instance.add_dynamic_partitions(films_partitions.name, [INCEPTION])
    assert job().execute_in_process(instance=instance, asset_selection=[dg.AssetKey("trailer_emotion")],
                                    partition_key=INCEPTION).success
    assert stored.read("trailer_emotion", INCEPTION).loc[0, "emotion_model"].startswith("student")


def test_trailer_config_chooses_the_detector_size_and_precision(shared_dir):
    from cineseq_assets.trailers.pipeline import TrailerAnalyzer, TrailerConfig

    scrfd = TrailerAnalyzer(TrailerConfig(detection_precision="fp32", detection_size=320)).detector
    assert (scrfd.precision, scrfd.input_size) == ("fp32", 320)
    assert TrailerAnalyzer(TrailerConfig(detector="yunet", detection_size=640)).detector.max_side == 640
