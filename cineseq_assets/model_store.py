"""Model folders: where a stage keeps its trained models, and the one rule for which model serves.

Every stage that trains models (the forecaster, the frame classifier, the trailer emotion student)
keeps them the same way, under the storage root::

    <storage>/<asset>/<name><suffix>   the files of the model called <name>: weights first (Parquet,
                                       cineseq_assets.weights, no pickle), then exports such as .onnx
    <storage>/<asset>/serving.json     which model serves: {"serving", "chosen_by", "metrics", "written_at"}

The model that serves is the one serving.json names, for every stage and every reader (the demo, the
CLI, downstream assets). A stage *publishes* a model by writing serving.json, and only when the model
passes its gate, if it has one: a model that fails stays on disk for inspection while the published
one keeps serving. serving.json is written last and atomically, so a reader sees either the old
choice or the new one, each with its files complete.

An older CineSeq wrote serving.json with other keys ("architecture", "model"); such a file is
refused with a ModelError that says to materialize the asset again (which rewrites it), rather
than read in two formats.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import ModelError
from .storage import write_bytes_atomic
from .weights import json_default

SERVING_FILE = "serving.json"


@dataclass(frozen=True)
class Serving:
    """What serving.json says: the model that serves, why, and its metrics when it was chosen."""

    name: str
    chosen_by: str
    metrics: dict
    written_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class Gate:
    """A model is published only when ``metrics[metric] >= minimum`` (e.g. the student's agreement)."""

    metric: str
    minimum: float

    def passes(self, metrics: dict) -> bool:
        value = metrics.get(self.metric)
        return value is not None and float(value) >= self.minimum

    def __str__(self) -> str:
        return f"{self.metric} >= {self.minimum:g}"


@dataclass(frozen=True)
class ModelFolder:
    """One stage's model folder (see the module docstring for the layout).

    ``suffixes`` are the file endings of one model, weights first: ``(".parquet", ".onnx")`` gives
    ``seq2seq.parquet`` and ``seq2seq.onnx``. ``what`` names the models in messages ("forecaster"),
    and ``hint`` says how to make one.
    """

    path: Path
    suffixes: tuple[str, ...]
    what: str
    hint: str

    # --------------------------------------------------------------------------------- the files

    def file(self, name: str, suffix: str | None = None) -> Path:
        """The file of model ``name`` with ``suffix`` (default: its weights)."""
        return self.path / f"{name}{self.suffixes[0] if suffix is None else suffix}"

    def names(self) -> list[str]:
        """The models stored here (those with a weights file), sorted."""
        weights = self.suffixes[0]
        return sorted(p.name.removesuffix(weights) for p in self.path.glob(f"*{weights}"))

    # ------------------------------------------------------------------------ which model serves

    def serving(self) -> Serving:
        """What serving.json says; a ModelError saying how to get one when it is missing or unreadable."""
        path = self.path / SERVING_FILE
        if not path.exists():
            raise ModelError(self.path, f"no trained {self.what} (no {SERVING_FILE})", self.hint)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ModelError(path, f"cannot be read ({error})", self.hint) from error
        if not isinstance(data, dict) or "serving" not in data:
            keys = ", ".join(map(repr, data)) if isinstance(data, dict) else type(data).__name__
            raise ModelError(path, f"was written by an older version of CineSeq (keys {keys}, no 'serving')",
                             f"Materialize the {self.path.name} asset again: it rewrites this file.")
        return Serving(str(data["serving"]), str(data.get("chosen_by", "")), dict(data.get("metrics") or {}),
                       str(data.get("written_at", "")))

    def serving_file(self, suffix: str | None = None) -> Path:
        """The file (default: the weights) of the model that serves."""
        return self.file(self.serving().name, suffix)

    def publish(self, name: str, *, chosen_by: str, metrics: dict | None = None, gate: Gate | None = None,
                as_name: str | None = None) -> bool:
        """Make model ``name`` the one that serves, if it passes ``gate``; True when it was published.

        With ``as_name`` the model's files are first copied to that name, so a trained candidate
        (``student_candidate``) is published under a fixed name (``student``) and the next candidate
        that fails its gate cannot overwrite what serves.
        """
        metrics = dict(metrics or {})
        if not self.file(name).exists():
            raise ModelError(self.file(name), f"cannot be published: no such {self.what}",
                             f"Save the model's files in {self.path} before publishing it.")
        if gate is not None and not gate.passes(metrics):
            return False
        if as_name is not None and as_name != name:
            for suffix in self.suffixes:
                if self.file(name, suffix).exists():
                    write_bytes_atomic(self.file(name, suffix).read_bytes(), self.file(as_name, suffix))
            name = as_name
        serving = {"serving": name, "chosen_by": chosen_by if gate is None else f"{chosen_by} ({gate})",
                   "metrics": metrics, "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        write_bytes_atomic(json.dumps(serving, indent=2, default=json_default).encode(), self.path / SERVING_FILE)
        return True
