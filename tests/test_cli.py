"""The command lines: `cineseq films`, and a partition-range backfill with Dagster's own CLI."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from cineseq_assets import storage
from cineseq_assets.partitions import films_partitions

INCEPTION, GRAND_BUDAPEST, ENDGAME = "rl2908456449", "rl475497985", "rl3059975681"
ROOT = Path(__file__).resolve().parents[1]


def test_films_lists_the_showcase():
    command = [sys.executable, "-m", "cineseq_assets.cli", "films", "--showcase"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "Inception" in out and "Avengers: Endgame" in out
    assert out.strip().endswith("31 films")


def test_dagster_cli_partition_range_backfill_is_one_run(instance, isolated_project):
    instance.add_dynamic_partitions(films_partitions.name, [INCEPTION, GRAND_BUDAPEST, ENDGAME])
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "cineseq_assets.definitions",
               "--select", "weekly_panel,decay_fit", "--partition-range", f"{INCEPTION}...{ENDGAME}"]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-3000:]
    assert instance.get_materialized_partitions(dg.AssetKey("decay_fit")) == {INCEPTION, GRAND_BUDAPEST, ENDGAME}
    assert len(instance.get_run_records()) == 1  # the whole range in one run
    fits = storage.read_asset("decay_fit", INCEPTION)
    assert set(fits["window"]) == {"run", "weeks_1_8"}


def test_dg_cli_lists_the_definitions():
    done = subprocess.run(["dg", "list", "defs", "--json"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "weekly_panel" in done.stdout and "decay_diagnostics" in done.stdout


def test_run_with_an_unknown_film_is_an_error_naming_it_not_a_traceback(isolated_project):
    command = [sys.executable, "-m", "cineseq_assets.cli", "run", "--films", "rl2908456449,not-a-film", "--no-forecast"]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode == 2, done.stderr[-3000:]
    assert "error: not in the catalog: not-a-film" in done.stderr and "Traceback" not in done.stderr


def test_run_takes_the_old_options_with_a_note_and_checks_their_names(isolated_project):
    command = [sys.executable, "-m", "cineseq_assets.cli", "run", "--films", "rl2908456449,not-a-film", "--no-forecast",
               "--frames", "--include", "forecast_evaluation"]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode == 2, done.stderr[-3000:]  # the unknown film, not the old options
    assert "note: --frames: no longer needed" in done.stderr
    assert "note: --include forecast_evaluation: no longer needed" in done.stderr
    command = [sys.executable, "-m", "cineseq_assets.cli", "run", "--include", "panel"]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode == 2 and "error: --include panel: not an optional stage" in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr


def test_run_help_lists_the_switches_of_the_optional_parts():
    command = [sys.executable, "-m", "cineseq_assets.cli", "run", "--help"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert all(flag in out for flag in ("--no-forecast", "--no-student", "--no-frames", "--no-evaluation"))
    assert "--include" not in out and "--frames " not in out  # kept for old commands, not advertised
