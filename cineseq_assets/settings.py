"""Where CineSeq keeps things. Every location can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_DATA_DIR = PACKAGE_DIR / "data"


def project_root() -> Path:
    """The checkout holding pyproject.toml (editable install), else the working directory."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").exists() else Path.cwd()


def storage_dir() -> Path:
    """Materializations: ``$CINESEQ_STORAGE`` or ``<project>/storage``."""
    return Path(os.environ.get("CINESEQ_STORAGE", project_root() / "storage"))


def dagster_home() -> Path:
    """Dagster's instance folder: ``$DAGSTER_HOME`` or ``<project>/.dagster_home``."""
    return Path(os.environ.get("DAGSTER_HOME", project_root() / ".dagster_home"))


def shared_dir() -> Path:
    """The shared data folder (media/, data/images/, models/): ``$CINESEQ_SHARED`` or ``shared/`` beside the project."""
    return Path(os.environ.get("CINESEQ_SHARED") or project_root().parent / "shared")
