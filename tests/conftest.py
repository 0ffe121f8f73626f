"""Fixtures shared by the whole suite: the shared data folder, an isolated storage and Dagster home."""

import os
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CINESEQ_SHARED", REPO.parent / "shared"))
# Third-party model files are read from the shared folder, never downloaded.
os.environ.setdefault("CINESEQ_MODEL_DIR", str(SHARED / "models"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    assert SHARED.is_dir(), f"{SHARED} is missing: the tests need the shared data folder beside the checkout (or CINESEQ_SHARED)."
    return SHARED


@pytest.fixture
def isolated_project(tmp_path, monkeypatch):
    """Empty storage and Dagster home for one test (nothing of the user's project is touched)."""
    storage, home = tmp_path / "storage", tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("CINESEQ_STORAGE", str(storage))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return tmp_path


@pytest.fixture
def instance(isolated_project):
    with dg.instance_for_test(temp_dir=str(isolated_project / "dagster_home")) as test_instance:
        yield test_instance
