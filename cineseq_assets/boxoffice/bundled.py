"""The bundled real dataset shipped in ``cineseq_assets/data`` (see ``data/build_dataset.py``)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pandas as pd

from ..settings import BUNDLED_DATA_DIR
from .schema import MARKET_COLUMNS
from .sources import BoxOfficeData

TABLES = ["weekly_box_office", "films", "market_daily", "trends_weekly"]


@lru_cache(maxsize=2)
def load_bundled(data_dir: Path = BUNDLED_DATA_DIR) -> BoxOfficeData:
    """Weekly box office, films (with metadata and buzz columns) and market context of the catalog."""
    missing = [t for t in TABLES if not (data_dir / f"{t}.parquet").exists()]
    if missing:
        raise FileNotFoundError(
            f"{data_dir} lacks {', '.join(missing)}.parquet: rebuild the bundled dataset with "
            "`python -m cineseq_assets.data.build_dataset --raw <folder with the raw sources>`."
        )
    films = pd.read_parquet(data_dir / "films.parquet")
    return BoxOfficeData(
        weekly=pd.read_parquet(data_dir / "weekly_box_office.parquet"),
        films=films,
        market=pd.read_parquet(data_dir / "market_daily.parquet")[MARKET_COLUMNS],
        source="bundled",
    )


@lru_cache(maxsize=2)
def bundled_trends(data_dir: Path = BUNDLED_DATA_DIR) -> dict[str, pd.DataFrame]:
    """Pre-release weekly Google Trends interest per film id."""
    trends = pd.read_parquet(data_dir / "trends_weekly.parquet")
    return {film: rows[["date", "interest"]].reset_index(drop=True) for film, rows in trends.groupby("film_id")}


def build_report(data_dir: Path = BUNDLED_DATA_DIR) -> dict:
    """Counts and join match rates written by the build script."""
    return json.loads((data_dir / "build_report.json").read_text())
