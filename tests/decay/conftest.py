"""Shared fixtures for the decay tests: five real films (tests/fixtures/decay) and their fits."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cineseq_assets.decay.fits import fit_all_films

REPO = Path(__file__).resolve().parents[2]

FIXTURE_DIR = REPO / "tests" / "fixtures" / "decay"

INCEPTION = "rl2908456449"
GRAND_BUDAPEST = "rl475497985"  # platform release: 4 theaters, gross peaks in week 4
REAL_STEEL = "rl275613185"  # wide, exactly 6 usable weeks
RBG = "rl117736961"  # limited documentary, exactly 6 usable weeks
ENDGAME = "rl3059975681"

# The raw chart has no genres; these are hand-entered so group_summary has something to group.
GENRES = {
    INCEPTION: "Action|Adventure|Sci-Fi",
    GRAND_BUDAPEST: "Comedy|Drama",
    REAL_STEEL: "Action|Sci-Fi|Drama",
    RBG: None,
    ENDGAME: "Action|Adventure",
}


@pytest.fixture(scope="session")
def weekly() -> pd.DataFrame:
    return pd.read_parquet(FIXTURE_DIR / "weekly.parquet")


@pytest.fixture(scope="session")
def films() -> pd.DataFrame:
    films = pd.read_parquet(FIXTURE_DIR / "films.parquet")
    films["genres"] = films["film_id"].map(GENRES)
    films["showcase"] = films["film_id"].isin([INCEPTION, GRAND_BUDAPEST])
    films["release_width"] = (films["opening_theaters"] >= 2000).map({True: "wide", False: "limited"})
    return films


@pytest.fixture(scope="session")
def fits(weekly) -> pd.DataFrame:
    return fit_all_films(weekly)

