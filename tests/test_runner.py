"""`cineseq run` from Python: the stage jobs in order, and only what is missing or stale.

Staleness is Dagster's own (code versions and data versions): a second run with nothing changed
materializes nothing but the catalog; a new code version of one stage recomputes that stage and
what depends on it; a changed source recomputes the films; ``force`` recomputes everything.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import dagster as dg
import pandas as pd
import pytest
import torch

from cineseq_assets import runner, staleness
from cineseq_assets.definitions import build_definitions
from cineseq_assets.jobs import STAGES, register_new_films
from cineseq_assets.processes import available_cores, available_threads
from cineseq_assets.runner import RunOptions, run_default_graph, side_by_side_groups
from cineseq_assets.staleness import Staleness

FILMS = "rl2908456449,rl475497985,rl3059975681"  # Inception, The Grand Budapest Hotel, Avengers: Endgame
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _run(options: RunOptions) -> tuple[bool, list[str]]:
    lines: list[str] = []
    return run_default_graph(options, log=lines.append), lines


def _materializations(instance, name: str) -> int:
    return len(instance.fetch_materializations(dg.AssetKey(name), limit=1000).records)


def test_a_second_run_skips_what_is_up_to_date_and_force_recomputes(instance):
    ok, lines = _run(RunOptions(films=FILMS, forecast=False))
    assert ok, lines
    assert any(line.startswith("not run: forecaster: --no-forecast") for line in lines)
    assert "not run: frame_classifier: --no-forecast" in lines  # --no-forecast trains nothing
    assert "    film_panels: done in" in "\n".join(lines)  # each stage's time
    assert any("film_panels (weekly_panel, decay_fit): 3 of 3 films to materialize" in line for line in lines)
    assert _materializations(instance, "weekly_panel") == 3 and _materializations(instance, "panel") == 1
    checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("panel"), "panel_schema")])
    assert checks, "the panel's checks run with it"

    ok, lines = _run(RunOptions(films=FILMS, forecast=False))
    assert ok, lines
    assert any("0 of 3 films to materialize, skipped 3 up to date" in line for line in lines)
    assert any("panel (panel, decay_diagnostics): up to date, skipped" in line for line in lines)
    assert _materializations(instance, "weekly_panel") == 3 and _materializations(instance, "decay_diagnostics") == 1
    assert _materializations(instance, "film_catalog") == 2  # the catalog reads the sources every time

    ok, lines = _run(RunOptions(films=FILMS.split(",")[0], forecast=False, force=True))
    assert ok, lines
    assert _materializations(instance, "decay_fit") == 4 and _materializations(instance, "panel") == 2


def test_the_panel_data_version_is_its_content(instance):
    """So that the forecaster is stale after a panel of other films, however many films there are."""
    from cineseq_assets.storage import Storage
    from cineseq_assets.versions import table_version

    stored = Storage.default()  # where `cineseq run` writes

    def panel_version() -> str:
        event = instance.get_latest_materialization_event(dg.AssetKey("panel"))
        return event.asset_materialization.tags["dagster/data_version"]

    assert _run(RunOptions(films=FILMS.split(",")[0], forecast=False))[0]
    one_film = panel_version()
    assert one_film == table_version(stored.read("panel"))
    assert _run(RunOptions(films=FILMS, forecast=False))[0]
    assert panel_version() == table_version(stored.read("panel")) != one_film


def _with_code_version(defs: dg.Definitions, names: set[str], version: str) -> dg.Definitions:
    assets = [asset.map_asset_specs(lambda spec: spec.replace_attributes(code_version=version) if spec.key.path[-1] in names
                                    else spec) for asset in defs.assets]
    return dg.Definitions(assets=assets, resources=defs.resources)


def _materialize(defs, instance, job, films=None):
    tags = {"dagster/asset_partition_range_start": films[0], "dagster/asset_partition_range_end": films[-1]} if films else {}
    assert defs.resolve_job_def(job).execute_in_process(instance=instance, tags=tags, run_config=QUIET).success


def _films_to_run(defs, instance, stages, films, monkeypatch) -> dict:
    """Staleness.films_to_run, checked against Dagster's resolver reading the instance partition by
    partition (what the UI shows), which the prefetched reads must not change."""
    found = Staleness(defs, instance).films_to_run(stages, films)
    with monkeypatch.context() as plain:
        plain.setattr(staleness, "_PrefetchedInstance", lambda instance: instance)
        assert Staleness(defs, instance).films_to_run(stages, films) == found
    return found


def test_new_code_or_a_changed_source_makes_the_films_stale(instance, storage_root, stored, tmp_path, monkeypatch):
    user_file = tmp_path / "films.csv"
    shutil.copy(EXAMPLES / "my_films_daily.csv", user_file)
    monkeypatch.setenv("CINESEQ_BOX_OFFICE_SOURCE", "user_file")
    monkeypatch.setenv("CINESEQ_USER_FILE", str(user_file))
    defs = build_definitions(storage_root)  # after the environment names the user's file
    _materialize(defs, instance, "film_catalog_job")
    films = register_new_films(instance, stored.read("film_catalog"))
    _materialize(defs, instance, "film_panels_job", films)
    _materialize(defs, instance, "panel_job")
    stages = ("weekly_panel", "decay_fit")
    assert _films_to_run(defs, instance, stages, films, monkeypatch) == {}
    assert Staleness(defs, instance).assets_to_run(["panel", "decay_diagnostics"]) == []

    # new code for the decay stage: its fits and the diagnostics, not the panels
    decay_changed = _with_code_version(defs, {"decay_fit", "decay_diagnostics"}, "changed")
    assert _films_to_run(decay_changed, instance, stages, films, monkeypatch) == {("decay_fit",): films}
    assert Staleness(decay_changed, instance).assets_to_run(["panel", "decay_diagnostics"]) == ["decay_diagnostics"]

    # the same catalog again: nothing is stale; a changed source file: every film's panel, then its fit
    _materialize(defs, instance, "film_catalog_job")
    assert _films_to_run(defs, instance, stages, films, monkeypatch) == {}
    daily = pd.read_csv(user_file)
    daily.loc[daily.index[-1], "gross"] *= 2  # the last day of the last film
    daily.to_csv(user_file, index=False)
    _materialize(defs, instance, "film_catalog_job")
    assert _films_to_run(defs, instance, stages, films, monkeypatch) == {stages: films}

    # one film recomputed: the aggregate over every film is stale too
    _materialize(defs, instance, "film_panels_job", films[:1])
    assert _films_to_run(defs, instance, stages, films, monkeypatch) == {stages: films[1:]}
    assert Staleness(defs, instance).assets_to_run(["panel", "decay_diagnostics"]) == ["panel", "decay_diagnostics"]


def test_optional_parts_whose_inputs_are_missing_are_said_and_the_rest_runs(instance, tmp_path, monkeypatch):
    monkeypatch.setenv("CINESEQ_SHARED", str(tmp_path / "empty_shared"))  # no labelled images, no faces
    ok, lines = _run(RunOptions(films=FILMS))
    assert ok, lines
    not_run = {line.split(":")[1].strip(): line for line in lines if line.startswith("not run:")}
    assert not_run["frame_classifier"].startswith("not run: frame_classifier: needs the labelled posters and trailer "
                                                  f"frames: {tmp_path / 'empty_shared'}")
    assert "set CINESEQ_SHARED" in not_run["frame_classifier"]
    assert not_run["trailer_emotion_student"].startswith("not run: trailer_emotion_student: needs the face clips")
    assert not_run["film_frames"].startswith("not run: film_frames: needs a frame classifier")
    assert "forecast_evaluation" not in not_run  # it needs nothing from outside; here too few films (below)
    assert any("forecast_evaluation skipped: the panel holds 3 films" in line for line in lines)
    assert _materializations(instance, "panel") == 1 and _materializations(instance, "frame_classifier") == 0


def test_an_optional_part_that_fails_fails_the_command_not_the_stages_after_it(instance, tmp_path, monkeypatch):
    from cineseq_assets import stage_inputs

    shared = tmp_path / "broken_shared"  # the inputs are there, but training cannot read them
    (shared / "media").mkdir(parents=True)
    for name in stage_inputs.IMAGE_SETS:
        (shared / "data" / "images" / name).mkdir(parents=True)
        (shared / "data" / "images" / name / "labels.csv").write_text("not,the,columns\n1,2,3\n")
    monkeypatch.setenv("CINESEQ_SHARED", str(shared))
    ok, lines = _run(RunOptions(films=FILMS))
    assert not ok
    text = "\n".join(lines)
    assert "    trailer_emotion_student: FAILED" in text and "    frame_classifier: FAILED" in text
    assert "    trailer_emotion_student and frame_classifier side by side" in text  # each in a process of its own
    # nothing stored to fall back on: what needed the classifier says so; the stages after it still run
    assert any("film_frames skipped: needs a frame classifier" in line for line in lines), text
    assert any("forecaster skipped: the panel holds 3 films" in line for line in lines), text
    assert any("forecast_evaluation skipped: the panel holds 3 films" in line for line in lines), text



WAIT_FOR_THE_OTHER = """
import os, sys, time
from pathlib import Path
folder = Path(sys.argv[1])
(folder / "child").write_text(os.environ["OMP_NUM_THREADS"] + " " + os.environ["CINESEQ_TORCH_THREADS"])
deadline = time.monotonic() + 60
while not (folder / "parent").exists() and time.monotonic() < deadline:  # alone, it would wait in vain
    time.sleep(0.05)
sys.exit(0 if (folder / "parent").exists() else 1)
"""


def _wait_for(path: Path) -> bool:
    deadline = time.monotonic() + 60
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.exists()


def test_side_by_side_stages_run_at_once_each_on_its_share_of_the_threads(instance, tmp_path, monkeypatch):
    """The student trains in this process while the frame classifier trains in a process of its own, one
    thread each on 2 cores; the command waits for both, reports each, and gets its thread settings back."""
    groups = [group for group in side_by_side_groups(list(enumerate(STAGES, start=1))) if len(group) > 1]
    assert [[stage.name for _, stage in group] for group in groups] == [["trailer_emotion_student", "frame_classifier"]]
    share = max(1, available_cores() // 2)
    children, here = [], {}

    def start(job_name, assets, threads):
        children.append((job_name, list(assets), threads))
        environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "CINESEQ_TORCH_THREADS": str(threads)}
        return subprocess.Popen([sys.executable, "-c", WAIT_FOR_THE_OTHER, str(tmp_path)], env=environment)

    def launch(run, job_name, assets, film_range=None):
        here[job_name] = (available_threads(), torch.get_num_threads(), cv2.getNumThreads())
        (tmp_path / "parent").write_text("running")
        return not _wait_for(tmp_path / "child")  # the child runs meanwhile; this stage fails, say

    monkeypatch.setattr(runner, "start_stage_process", start)
    monkeypatch.setattr(runner._Run, "_launch", launch)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads(), cv2.getNumThreads()
    lines: list[str] = []
    run = runner._Run(build_definitions(tmp_path / "storage"), instance, True, lines.append, None)
    assert run.group(groups[0], len(STAGES), [], set()) == [False, True]
    assert children == [("frame_classifier_job", ["frame_classifier"], share)]
    assert (tmp_path / "child").read_text() == f"{share} {share}"
    assert here == {"trailer_emotion_student_job": (share, share, share)}
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before and "OMP_NUM_THREADS" not in os.environ
    assert f"    trailer_emotion_student and frame_classifier side by side, {share} thread{'s' * (share > 1)} each" in lines
    assert any(line.startswith("    trailer_emotion_student: FAILED in") for line in lines), lines
    assert any(line.startswith("    frame_classifier: done in") for line in lines), lines


def test_a_stage_process_runs_the_job_on_the_threads_it_is_given(monkeypatch):
    calls = []
    monkeypatch.setattr(runner.subprocess, "Popen", lambda command, env: calls.append((command, env)))
    runner.start_stage_process("frame_classifier_job", ["frame_classifier"], 1)
    (command, environment), = calls
    assert command == [sys.executable, "-m", "cineseq_assets.stage_process", "frame_classifier_job", "frame_classifier"]
    assert environment["OMP_NUM_THREADS"] == environment["CINESEQ_TORCH_THREADS"] == "1"
    assert environment["DAGSTER_HOME"] == os.environ["DAGSTER_HOME"]  # the same instance, storage and data


def test_a_stage_process_runs_its_stage_on_the_share_named_by_omp_num_threads(monkeypatch):
    from cineseq_assets import stage_process

    seen = []
    monkeypatch.setattr(runner, "launch_side_by_side_run",
                        lambda job_name, assets: seen.append((torch.get_num_threads(), cv2.getNumThreads())) or True)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads(), cv2.getNumThreads()
    assert stage_process.main(["frame_classifier_job", "frame_classifier"]) == 0
    assert seen == [(1, 1)]
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before


def test_a_stage_process_materializes_its_assets_and_prints_no_warning(isolated_project):
    """The real child process: importing the definitions warned once per asset that backfill_policy is in
    beta (six lines in a user's first run) until the process set its warning filter before its imports."""
    done = subprocess.run([sys.executable, "-m", "cineseq_assets.stage_process", "film_catalog_job", "film_catalog"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (isolated_project / "storage" / "film_catalog.parquet").is_file()
    assert "Warning" not in done.stderr, [line for line in done.stderr.splitlines() if "Warning" in line]


def test_a_side_by_side_stage_alone_keeps_the_commands_threads(instance, tmp_path, monkeypatch):
    """With the other stage of its group up to date, a stage runs here as any other: no second process, and
    the threads the command set (CINESEQ_TORCH_THREADS) rather than a share."""
    group = next(group for group in side_by_side_groups(list(enumerate(STAGES, start=1))) if len(group) > 1)
    seen = {}
    monkeypatch.setattr(runner, "start_stage_process", lambda *args: pytest.fail("no process for a stage alone"))
    monkeypatch.setattr(runner._Run, "_launch", lambda run, job_name, assets, film_range=None:
                        seen.setdefault(job_name, torch.get_num_threads()) is not None)
    run = runner._Run(build_definitions(tmp_path / "storage"), instance, True, lambda line: None, None)
    monkeypatch.setattr(run, "_assets_to_materialize",
                        lambda stage, header: list(stage.assets) if stage.name == "frame_classifier" else [])
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert run.group(group, len(STAGES), [], set()) == [True, True]
    finally:
        torch.set_num_threads(before)
    assert seen == {"frame_classifier_job": 1}
