"""What the demo's Model tab reads from the storage folder: the stored forecasters (and which one
serves), the evaluation's errors table summarized per model, and the diagnostic plots."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ...errors import ModelError
from ...storage import asset_path
from ...weights import read_metadata
from ..store import model_folder


def evaluation_table(errors: pd.DataFrame, split_kind: str = "by_film") -> pd.DataFrame:
    """One row per model: test WAPE (mean and std over seeds), WAPE per horizon, MAE, RMSE, coverage."""
    rows = errors[errors["split_kind"] == split_kind]
    overall = rows[rows["grouping"] == "overall"].groupby("model")
    table = overall[["wape", "mae", "rmse", "coverage_80"]].mean()
    table.insert(1, "wape_std", overall["wape"].std())
    by_horizon = rows[rows["grouping"] == "horizon"].groupby(["model", "group"])["wape"].mean().unstack("group")
    by_horizon.columns = [f"wape_h{h}" for h in by_horizon.columns]
    table = table.join(by_horizon).join(overall["seed"].nunique().rename("seeds"))
    return table.sort_values("wape").reset_index()


def stored_evaluation(storage_dir: Path) -> pd.DataFrame | None:
    """The materialized forecast_evaluation errors table, or None when it was never materialized."""
    path = asset_path("forecast_evaluation", root=Path(storage_dir))
    return pd.read_parquet(path) if path.exists() else None


def diagnostic_images(storage_dir: Path) -> list[tuple[Path, str]]:
    """(PNG, caption) of the stored decay diagnostics and evaluation plots, in a stable order."""
    storage_dir = Path(storage_dir)
    folders = {"decay_diagnostics": "decay", "forecast_evaluation": "evaluation", "attributions": "attributions"}
    images = []
    for folder, prefix in folders.items():
        for png in sorted((storage_dir / folder).glob("*.png")):
            images.append((png, f"{prefix}: {png.stem.replace('_', ' ')}"))
    return images


def stored_models(storage_dir: Path) -> pd.DataFrame:
    """One row per stored forecaster: validation WAPE, epochs, training time, and which one serves."""
    folder = model_folder(Path(storage_dir))
    try:
        serving = folder.serving().name
    except ModelError:
        serving = None  # none published (or an older serving.json): the page says so in its status line
    rows = []
    for path in map(folder.file, folder.names()):
        try:
            metrics = read_metadata(path)[1]
        except (OSError, ValueError, KeyError):
            continue  # not a model file: the page lists only what it can read
        rows.append({"model": path.stem, "serving": path.stem == serving,
                     "validation_wape": metrics.get("validation_wape"), "best_epoch": metrics.get("best_epoch"),
                     "epochs": metrics.get("epochs"), "training_seconds": metrics.get("seconds"),
                     "written": datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")})
    return pd.DataFrame(rows)
