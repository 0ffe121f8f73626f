"""Jobs: the default graph of ``cineseq run`` as Dagster asset jobs, and the registration of films.

``STAGES`` is the one place that says what ``cineseq run`` materializes and in which order: each
stage is an asset job (visible and launchable in the UI), launched over film partition ranges when
its assets are per film. Every asset of the code location is in exactly one stage or in
``NOT_IN_DEFAULT_GRAPH`` (tests/test_jobs.py checks it, and that no stage needs a later one).
"""

from dataclasses import dataclass

import dagster as dg
import pandas as pd

from .boxoffice.catalog import films_to_register
from .partitions import films_partitions
from .resources import ArtifactStore


@dataclass(frozen=True)
class Stage:
    """Assets that run as one job. ``needs`` names the ``cineseq run`` option that turns the stage on
    or off (``forecast`` is on unless --no-forecast, ``frames`` needs --frames); an ``optional`` stage
    runs only when asked for by name (``--include``), and the text says why it is not in the default."""

    name: str
    assets: tuple[str, ...]
    needs: str | None = None
    optional: str | None = None
    always_run: bool = False  # reads sources outside Dagster, which it cannot see change (see runner.py)
    films_with_trailer: bool = False  # per-film work only for the films that have a trailer

    @property
    def job_name(self) -> str:
        return f"{self.name}_job"

    @property
    def selection(self) -> dg.AssetSelection:
        return dg.AssetSelection.assets(*self.assets)


STAGES = (
    Stage("film_catalog", ("film_catalog",), always_run=True),
    Stage("film_panels", ("weekly_panel", "decay_fit")),
    Stage("panel", ("panel", "decay_diagnostics")),
    Stage("trailer_emotion_student", ("trailer_emotion_student",),
          optional="distils the emotion student from the teacher (several minutes); until a student is deployed, "
                   "trailer_emotion uses the teacher"),
    Stage("trailer_emotion", ("trailer_emotion",), films_with_trailer=True),
    Stage("frame_classifier", ("frame_classifier",), needs="frames"),
    Stage("film_frames", ("representative_frames", "frame_predictions"), needs="frames"),
    Stage("forecaster", ("training_windows", "forecast_model"), needs="forecast"),
    Stage("film_forecasts", ("forecasts",), needs="forecast"),
    Stage("attributions", ("attributions",), needs="forecast"),
    Stage("forecast_evaluation", ("forecast_evaluation",), needs="forecast",
          optional="trains every network and baseline over several seeds, about 10 minutes per split"),
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
