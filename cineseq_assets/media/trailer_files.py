"""Where a film's trailer is: a manifest (CSV ``film_id, path``) or a folder of ``<film_id>.<ext>`` files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputFileError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm")


def read_manifest(path: str | Path) -> dict[str, Path]:
    """film_id -> trailer path; relative paths are taken relative to the manifest's folder."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "does not exist", "Give a CSV with columns film_id, path (see docs/trailers.md).")
    table = pd.read_csv(path, dtype=str)
    missing = [c for c in ("film_id", "path") if c not in table.columns]
    if missing:
        raise InputFileError(path, f"lacks column(s) {', '.join(missing)} (found: {', '.join(table.columns)})",
                             "The manifest needs a header row: film_id,path")
    duplicated = table.loc[table["film_id"].duplicated(), "film_id"].tolist()
    if duplicated:
        raise InputFileError(path, f"lists film(s) {', '.join(duplicated[:5])} more than once", "Keep one trailer per film.")
    return {row.film_id: (path.parent / row.path).resolve() for row in table.itertuples()}


def find_in_folder(folder: str | Path, film_id: str) -> Path | None:
    """``<folder>/<film_id>.<ext>`` for the first supported extension that exists."""
    for extension in VIDEO_EXTENSIONS:
        candidate = Path(folder) / f"{film_id}{extension}"
        if candidate.exists():
            return candidate
    return None


def trailer_path(film_id: str, manifest: dict[str, Path] | None = None, folder: str | Path | None = None) -> Path | None:
    """The film's trailer from the manifest, else from the folder; None when it has none."""
    if manifest and film_id in manifest:
        return manifest[film_id]
    return find_in_folder(folder, film_id) if folder else None
