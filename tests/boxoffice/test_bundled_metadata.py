"""The bundled metadata tables: every row of The Numbers and TMDB 5000, matched like the catalog's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.boxoffice.bundled import build_report, load_bundled
from cineseq_assets.boxoffice.metadata import (
    METADATA_COLUMNS,
    METADATA_TABLE_COLUMNS,
    NUMBERS,
    TMDB,
    bundled_metadata,
    combine_metadata,
    metadata_table,
)

NUMBERS_FILE = "data/raw/the_numbers_budgets_delafields/movie-budgets.csv"
TMDB_FILE = "data/raw/tmdb5000_kicks07/tmdb_5000_movies.csv"


def film(film_id: str, title: str, release_date: str) -> dict:
    return {"film_id": film_id, "title": title, "release_date": pd.Timestamp(release_date)}


def test_every_row_of_both_sources_is_bundled(shared_dir):
    table = metadata_table()
    assert list(table.columns) == METADATA_TABLE_COLUMNS
    counts = table["source"].value_counts().to_dict()
    raw_rows = {NUMBERS: len(pd.read_csv(shared_dir / NUMBERS_FILE)), TMDB: len(pd.read_csv(shared_dir / TMDB_FILE))}
    assert counts == raw_rows
    assert counts == build_report()["metadata_rows"]
    assert table["release_date"].notna().mean() > 0.99
    # Genres are one vocabulary (TMDB's): The Numbers' "Thriller/Suspense" became "Thriller".
    genres = set(table["genres"].dropna().str.split("|").explode())
    assert "Thriller" in genres and "Thriller/Suspense" not in genres and "" not in genres
    assert table.loc[table["source"] == TMDB, ["mpaa", "production_company"]].isna().all().all()


def test_catalog_films_get_exactly_what_films_parquet_holds():
    films = load_bundled().films
    found = bundled_metadata(films)
    catalog = films.set_index("film_id")
    for column in [*METADATA_COLUMNS, "the_numbers_match", "tmdb_match"]:
        ours, theirs = found[column].astype(object), catalog[column].astype(object)
        same = (ours == theirs) | (ours.isna() & theirs.isna())
        assert same.all(), f"{column}: {int((~same).sum())} catalog films differ"


def test_film_outside_the_catalog_is_matched_by_title_and_year():
    films = pd.DataFrame([
        film("mine-1", "The Sorcerer's Apprentice", "2010-07-14"),  # not in the catalog: too short a run
        film("mine-2", "SORCERER'S APPRENTICE (2010)", "2011-02-01"),  # written differently, within a year
        film("mine-3", "The Sorcerer's Apprentice", "2013-07-14"),  # three years off: another film
        film("mine-4", "No Such Film At All", "2010-07-14"),
    ])
    assert not load_bundled().films["title"].eq("The Sorcerer's Apprentice").any()
    found = bundled_metadata(films)
    assert list(found.index) == ["mine-1", "mine-2", "mine-3", "mine-4"]
    sorcerer = found.loc["mine-1"]
    assert sorcerer["budget"] == 160_000_000
    assert sorcerer["mpaa"] == "PG" and sorcerer["runtime"] == 108
    assert {"Fantasy", "Adventure"} <= set(sorcerer["genres"].split("|"))
    assert sorcerer["the_numbers_match"] and sorcerer["tmdb_match"]
    pd.testing.assert_series_equal(found.loc["mine-2"], sorcerer, check_names=False)
    for unmatched in ("mine-3", "mine-4"):
        assert found.loc[unmatched, METADATA_COLUMNS].isna().all()
        assert not found.loc[unmatched, "the_numbers_match"] and not found.loc[unmatched, "tmdb_match"]


def test_combining_prefers_each_source_where_it_is_better():
    numbers = pd.DataFrame({"budget": [1e6, np.nan], "genres": ["Drama", "Comedy"], "mpaa": ["R", None],
                            "runtime": [100.0, np.nan], "production_company": ["Studio", None]})
    tmdb = pd.DataFrame({"budget": [2e6, 3e6], "genres": ["Drama|Crime", ""], "mpaa": [np.nan, np.nan],
                         "runtime": [101.0, 90.0], "production_company": [np.nan, np.nan]})
    combined = combine_metadata(numbers, tmdb)
    assert list(combined.columns) == METADATA_COLUMNS
    assert combined["budget"].tolist() == [1e6, 3e6]  # The Numbers, else TMDB
    assert combined["genres"].tolist() == ["Drama|Crime", "Comedy"]  # TMDB's several, else The Numbers' one
    assert combined["runtime"].tolist() == [100.0, 90.0]
    assert combined["mpaa"].tolist()[0] == "R" and pd.isna(combined["mpaa"].iloc[1])


def test_a_missing_table_says_how_to_rebuild_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="build_dataset --raw"):
        metadata_table(tmp_path)
