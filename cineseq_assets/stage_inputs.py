"""What the optional stages of ``cineseq run`` need from outside the asset graph, and whether it is there.

A stage of jobs.STAGES names its inputs (``Stage.inputs``); :func:`missing` says in one line what is
not found and how to provide it, or None when it is there. The runner leaves a stage with a missing
input out and prints that line ("not run: ..."), so a checkout without the shared data folder or a
model file still materializes the rest of the graph. The checks look at files only (a model file is
verified by its sha256, as loading it would be): nothing is loaded, trained or downloaded.

Inputs:

- ``labelled_images``: the labelled posters and trailer frames of the shared data folder
  (``$CINESEQ_SHARED/data/images``), the frame classifier's training data;
- ``student_faces``: the clips and photos of ``$CINESEQ_SHARED/media`` and the same image sets, the
  faces the emotion student is distilled on;
- ``model:<name>``: a model file of the registry (model_files.py), found in ``$CINESEQ_MODEL_DIR`` or
  the user cache;
- ``frame_classifier``: a trained frame classifier, stored or trained earlier in the same run.
"""

from __future__ import annotations

from pathlib import Path

from . import model_files
from .errors import CineSeqError
from .settings import shared_dir, storage_dir

LABELLED_IMAGES = "labelled_images"
STUDENT_FACES = "student_faces"
FRAME_CLASSIFIER = "frame_classifier"
MODEL = "model:"
# The image sets of the shared data folder (frames/dataset.py and trailers/student/data.py read them).
IMAGE_SETS = ("posters_imdb_abilpandoli", "trailer_frames_zeevzu")
SHARED_HINT = "set CINESEQ_SHARED to the shared data folder"


def model(name: str) -> str:
    """The input name of registry model ``name``."""
    model_files.get(name)  # an unknown name is a programming error, found when STAGES is built
    return f"{MODEL}{name}"


def missing(requirement: str) -> str | None:
    """None when ``requirement`` is there; else one line: what is missing and how to provide it."""
    if requirement.startswith(MODEL):
        return _missing_model(requirement.removeprefix(MODEL))
    if requirement == LABELLED_IMAGES:
        return _missing_files("the labelled posters and trailer frames", _image_set_labels())
    if requirement == STUDENT_FACES:
        return _missing_files("the face clips and images to distil from", [shared_dir() / "media", *_image_set_labels()])
    if requirement == FRAME_CLASSIFIER:
        return _missing_frame_classifier()
    raise ValueError(f"unknown stage input {requirement!r}")


def _image_set_labels() -> list[Path]:
    images = shared_dir() / "data" / "images"
    return [images / name / "labels.csv" for name in IMAGE_SETS]


def _missing_files(what: str, paths: list[Path]) -> str | None:
    absent = [path for path in paths if not path.exists()]
    if not absent:
        return None
    return f"needs {what}: {absent[0]} not found ({SHARED_HINT}, which holds media/ and data/images/)"


def _missing_model(name: str) -> str | None:
    entry = model_files.get(name)
    get = f"`cineseq models fetch {name}`" if entry.obtain else "see `cineseq models`"
    try:
        model_files.locate(name)
    except model_files.ModelNotFoundError:
        return f"needs the model file {entry.filename} ({name}), not found: {get}, or set CINESEQ_MODEL_DIR"
    except model_files.ModelChecksumError as error:
        return f"needs the model file {entry.filename} ({name}): {error.path} is not the registered file; delete it, then {get}"
    return None


def _missing_frame_classifier() -> str | None:
    from .frames.classifier import classifier_folder

    folder = classifier_folder(storage_dir())
    try:
        folder.serving()
    except CineSeqError:
        return f"needs a frame classifier: frame_classifier is not run (its line says why) and none is stored in {folder.path}"
    return None
