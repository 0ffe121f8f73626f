"""The default graph of `cineseq run`: every asset in one stage job, stages in dependency order,
and what the options leave out, said rather than silent."""

import dagster as dg
import pytest

from cineseq_assets.definitions import defs
from cineseq_assets.errors import CineSeqError
from cineseq_assets.jobs import NOT_IN_DEFAULT_GRAPH, STAGES
from cineseq_assets.runner import RunOptions, SelectionError, plan, select_films


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


def test_the_default_plan_says_what_it_leaves_out_and_why():
    stages, skipped = plan(RunOptions())
    names = [stage.name for stage in stages]
    assert names[0] == "film_catalog" and "trailer_emotion" in names and "attributions" in names
    assert set(skipped) == {"trailer_emotion_student", "forecast_evaluation", "frame_classifier", "film_frames"}
    assert "--include forecast_evaluation" in skipped["forecast_evaluation"]
    assert "--frames" in skipped["frame_classifier"]


def test_options_add_and_remove_stages():
    stages, skipped = plan(RunOptions(forecast=False, frames=True, include=("trailer_emotion_student",)))
    names = [stage.name for stage in stages]
    assert "frame_classifier" in names and "trailer_emotion_student" in names
    assert not {"forecaster", "film_forecasts", "attributions"} & set(names)
    assert skipped["forecaster"] == "--no-forecast"


def test_unknown_films_or_stages_are_errors_naming_them():
    import pandas as pd

    catalog = pd.DataFrame({"film_id": ["a", "b"], "showcase": [True, False]})
    assert select_films("showcase", catalog) == ["a"]
    with pytest.raises(SelectionError, match="not in the catalog: x, y") as raised:
        select_films("a, x,y", catalog)
    assert isinstance(raised.value, CineSeqError)  # the CLI turns it into exit code 2, not library code
    with pytest.raises(SelectionError, match="--include panel: not an optional stage"):
        plan(RunOptions(include=("panel",)))
