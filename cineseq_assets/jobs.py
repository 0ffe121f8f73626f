"""Jobs: the default graph of ``cineseq run`` as Dagster asset jobs, and the registration of films.

``STAGES`` is the one place that says what ``cineseq run`` materializes and in which order: each
stage is an asset job (visible and launchable in the UI), launched over film partition ranges when
its assets are per film. Every asset of the code location is in exactly one stage or in
``NOT_IN_DEFAULT_GRAPH`` (tests/test_jobs.py checks it, and that no stage needs a later one).

Every stage runs by default. The optional parts (the emotion student, the frame classifier and its
per-film predictions, the evaluation) run when their inputs are found (stage_inputs.py: the shared
data folder, model files) and each has a switch to turn it off (``--no-student``, ``--no-frames``,
``--no-evaluation``); what is left out is said, one line each, with what to do about it.
"""

from dataclasses import dataclass

import dagster as dg
import pandas as pd

from . import stage_inputs
from .boxoffice.catalog import films_to_register
from .partitions import films_partitions
from .resources import ArtifactStore

# The run options that turn stages off (RunOptions fields; `cineseq run --no-<switch>`). "forecast" is
# every stage that trains a model or reads one (--no-forecast stops after the panel and the decay
# diagnostics); the others turn off one optional part each.
SWITCHES = ("forecast", "student", "frames", "evaluation")


@dataclass(frozen=True)
class Stage:
    """Assets that run as one job. ``needs``: the SWITCHES that must be on for it to run (each off by
    ``cineseq run --no-<switch>``); ``inputs``: what it needs from outside the graph (stage_inputs.py),
    without which it is left out, said with how to provide it."""

    name: str
    assets: tuple[str, ...]
    needs: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    always_run: bool = False  # reads sources outside Dagster, which it cannot see change (see runner.py)
    films_with_trailer: bool = False  # per-film work only for the films that have a trailer
    forecasts_panel: bool = False  # trains on the panel's film split or reads what did: needs enough films (runner.py)
    # Trains on data of its own, sharing nothing with a side_by_side stage next to it: `cineseq run`
    # runs such neighbours together, each on its share of the cores (runner.py).
    side_by_side: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.needs) - set(SWITCHES)
        if unknown:
            raise ValueError(f"stage {self.name}: unknown switch(es) {sorted(unknown)}; choose from {SWITCHES}")

    @property
    def optional(self) -> bool:
        """One of the optional parts (a switch of its own beyond --no-forecast)."""
        return any(switch != "forecast" for switch in self.needs)

    @property
    def job_name(self) -> str:
        return f"{self.name}_job"

    @property
    def selection(self) -> dg.AssetSelection:
        return dg.AssetSelection.assets(*self.assets)


_model = stage_inputs.model
STAGES = (
    Stage("film_catalog", ("film_catalog",), always_run=True),
    Stage("film_panels", ("weekly_panel", "decay_fit")),
    Stage("panel", ("panel", "decay_diagnostics")),
    # The two models trained on the shared images rather than on the films, side by side.
    # Until a student passes its gate, trailer_emotion reads faces with the teacher.
    Stage("trailer_emotion_student", ("trailer_emotion_student",), needs=("forecast", "student"),
          inputs=(stage_inputs.STUDENT_FACES, _model("fer_mini_xception_onnx"), _model("fer_mini_xception_keras"),
                  _model("yunet")), side_by_side=True),
    Stage("frame_classifier", ("frame_classifier",), needs=("forecast", "frames"),
          inputs=(stage_inputs.LABELLED_IMAGES, _model("mobilenet_v2_imagenet")), side_by_side=True),
    Stage("trailer_emotion", ("trailer_emotion",), films_with_trailer=True),
    Stage("film_frames", ("representative_frames", "frame_predictions"), needs=("forecast", "frames"),
          inputs=(stage_inputs.FRAME_CLASSIFIER,), films_with_trailer=True),
    Stage("forecaster", ("training_windows", "forecast_model"), needs=("forecast",), forecasts_panel=True),
    Stage("film_forecasts", ("forecasts",), needs=("forecast",), forecasts_panel=True),
    Stage("attributions", ("attributions",), needs=("forecast",), forecasts_panel=True),
    Stage("forecast_evaluation", ("forecast_evaluation",), needs=("forecast", "evaluation"), forecasts_panel=True),
)

NOT_IN_DEFAULT_GRAPH = {
    "mojo_daily_chart": "the live Box Office Mojo chart, one day per partition (network): materialize its days in the UI",
}

STAGE_JOBS = [dg.define_asset_job(stage.job_name, selection=stage.selection,
                                  description=f"`cineseq run` stage: {', '.join(stage.assets)}") for stage in STAGES]


def register_new_films(instance: dg.DagsterInstance, catalog: pd.DataFrame) -> list[str]:
    """Add a partition for every film of ``catalog`` (the materialized film_catalog) that has none yet;
    returns the new ids."""
    new = films_to_register(catalog, instance.get_dynamic_partitions(films_partitions.name))
    if new:
        instance.add_dynamic_partitions(films_partitions.name, new)
    return new


@dg.op(description="Register every film of the materialized film_catalog as a partition of the per-film assets.")
def register_films(context: dg.OpExecutionContext, artifacts: ArtifactStore) -> None:
    # An op of a plain job has no asset inputs: the catalog is read under the configured storage root.
    new = register_new_films(context.instance, artifacts.storage.read("film_catalog"))
    context.log.info(f"registered {len(new)} new film partitions")


@dg.job(description="Register the films of the materialized catalog as partitions (a new film is a new partition).")
def register_films_job():
    register_films()
