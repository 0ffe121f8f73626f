"""The one model-folder format: which model serves, publishing behind a gate, older serving files refused."""

import json

import pytest

from cineseq_assets.errors import ModelError
from cineseq_assets.model_store import SERVING_FILE, Gate, ModelFolder


@pytest.fixture
def folder(tmp_path) -> ModelFolder:
    return ModelFolder(tmp_path / "some_model", ("_weights.parquet", ".onnx"), "test model", "Materialize some_model.")


def _save(folder: ModelFolder, name: str, weights: bytes = b"weights", onnx: bytes = b"onnx") -> None:
    folder.path.mkdir(parents=True, exist_ok=True)
    folder.file(name).write_bytes(weights)
    folder.file(name, ".onnx").write_bytes(onnx)


def test_layout_names_and_the_published_choice(folder):
    _save(folder, "small")
    _save(folder, "large")
    assert folder.file("small") == folder.path / "small_weights.parquet" and folder.names() == ["large", "small"]
    assert folder.publish("small", chosen_by="lowest loss", metrics={"loss": {"small": 0.1, "large": 0.2}})
    serving = folder.serving()
    assert (serving.name, serving.chosen_by, serving.metrics) == ("small", "lowest loss", {"loss": {"small": 0.1, "large": 0.2}})
    assert serving.written_at.endswith("+00:00") and folder.serving_file(".onnx") == folder.path / "small.onnx"
    assert set(json.loads((folder.path / SERVING_FILE).read_text())) == {"serving", "chosen_by", "metrics", "written_at"}


def test_nothing_published_says_how_to_make_one(folder):
    with pytest.raises(ModelError, match="no trained test model .*Materialize some_model"):
        folder.serving()
    with pytest.raises(ModelError, match="no such test model"):
        folder.publish("missing", chosen_by="test")
    assert not (folder.path / SERVING_FILE).exists()


def test_a_model_below_its_gate_is_kept_but_not_published(folder):
    _save(folder, "candidate", b"first")
    gate = Gate("agreement", 0.85)
    assert not folder.publish("candidate", as_name="published", chosen_by="agreement", metrics={"agreement": 0.5}, gate=gate)
    assert not (folder.path / SERVING_FILE).exists() and not folder.file("published").exists()
    assert folder.publish("candidate", as_name="published", chosen_by="agreement", metrics={"agreement": 0.9}, gate=gate)
    assert folder.serving().name == "published" and "agreement >= 0.85" in folder.serving().chosen_by
    assert folder.file("published").read_bytes() == b"first" and folder.file("published", ".onnx").read_bytes() == b"onnx"
    # the next candidate that fails its gate leaves the published files as they were
    _save(folder, "candidate", b"second")
    assert not folder.publish("candidate", as_name="published", chosen_by="agreement", metrics={"agreement": 0.1}, gate=gate)
    assert folder.file("published").read_bytes() == b"first" and folder.serving().name == "published"


@pytest.mark.parametrize("old", [{"architecture": "seq2seq", "chosen_by": "validation WAPE"},
                                 {"model": "transfer", "reason": "lowest validation loss"}])
def test_a_serving_file_of_an_older_version_is_refused_with_what_to_do(folder, old):
    key, name = next(iter(old.items()))
    _save(folder, name)
    (folder.path / SERVING_FILE).write_text(json.dumps(old))
    with pytest.raises(ModelError, match=f"older version of CineSeq .*'{key}'.*Materialize the some_model asset again"):
        folder.serving()


def test_an_unreadable_serving_file_names_itself(folder):
    folder.path.mkdir(parents=True)
    (folder.path / SERVING_FILE).write_text("{half a file")
    with pytest.raises(ModelError, match="serving.json: cannot be read"):
        folder.serving()
