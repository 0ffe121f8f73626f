"""One uploaded trailer for an interactive front end: the analysis, a chart, a summary, the embedding.

The demo's Trailer tab calls this; it is the same ``TrailerAnalyzer`` as the asset and
``cineseq trailer``. The analyzer (detector and emotion model) is loaded once and reused.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import CineSeqError
from ..model_files import ModelNotFoundError, get, how_to_get, locate
from .embedding import EMBEDDING_SCHEMA

# The files the default trailer configuration needs: SCRFD faces, the mini-Xception teacher
# (also the student's fallback).
REQUIRED_MODELS = ("scrfd_2.5g_kps", "fer_mini_xception_onnx")
SUMMARY_KEYS = ("duration_s", "resolution", "frames_sampled", "frames_with_faces", "faces_found", "shots",
                "has_audio", "audio_silent", "detector", "emotion_model", "processing_s", "realtime_factor")

_lock = threading.Lock()
_analyzers: dict[Path | None, object] = {}  # storage folder -> its analyzer (detector + emotion model)


@dataclass
class TrailerPreview:
    """What a page shows of one trailer: its curves to chart, a summary and the embedding."""

    title: str  # the file's name
    visual: pd.DataFrame  # per sampled frame: timestamp, n_faces, valence, arousal (the emotional arc)
    audio: pd.DataFrame | None  # per audio frame: timestamp, rms, arousal; None without an audio stream
    summary_markdown: str
    embedding_table: pd.DataFrame  # feature, value: the embedding row, one feature per line


def missing_models_message() -> str | None:
    """None when every model the trailer analysis needs is present; else which are missing and how to get them."""
    problems = []
    for name in REQUIRED_MODELS:
        try:
            locate(name)
        except ModelNotFoundError:
            problems.append(f"- `{get(name).filename}` ({name}): {how_to_get(get(name))}")
        except CineSeqError as error:
            problems.append(f"- `{get(name).filename}` ({name}): {error}")
    if not problems:
        return None
    return "**Trailer analysis is unavailable: model files are missing.**\n\n" + "\n".join(problems) + (
        "\n\n`cineseq models` lists every model file and where it is looked for.")


def analyze_upload(path: Path, storage: Path | None = None) -> TrailerPreview:
    """Analyse the video at ``path`` with the analyzer shared by every call for ``storage`` (the
    folder whose trained emotion student it uses; default: the project's storage).

    Raises CineSeqError for a bad file or missing models.
    """
    message = missing_models_message()
    if message:
        raise CineSeqError(message.replace("**", ""))
    analysis = _shared_analyzer(storage).analyze(path)
    summary = analysis.summary
    lines = [f"| {key.replace('_', ' ')} | {summary[key]} |" for key in SUMMARY_KEYS]
    row = analysis.embedding
    markdown = ("| | |\n|---|---|\n" + "\n".join(lines) +
                f"\n\nAudio-visual alignment: correlation {_fmt(row.get('av_alignment_corr'))} at lag 0; "
                f"best {_fmt(row.get('av_alignment_best_corr'))} at {_fmt(row.get('av_alignment_best_lag_s'))} s "
                f"(positive: the audio leads).")
    if summary["frames_truncated"]:
        markdown = (f"**The file is cut short:** decoded {summary['decoded_s']:.1f} s of the {summary['duration_s']:.1f} s "
                    "it declares; the analysis covers only that part. Upload the complete file.\n\n" + markdown)
    table = pd.DataFrame({"feature": list(row), "value": [_fmt(v) for v in row.values()],
                          "meaning": [EMBEDDING_SCHEMA.get(name, "") for name in row]})
    return TrailerPreview(Path(path).name, analysis.visual, analysis.audio, markdown, table)


def _shared_analyzer(storage: Path | None):
    from .emotions import default_student_path
    from .pipeline import TrailerAnalyzer

    with _lock:
        if storage not in _analyzers:
            _analyzers[storage] = TrailerAnalyzer(student_path=default_student_path(storage))
        return _analyzers[storage]


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.4g}"
    return str(value)
