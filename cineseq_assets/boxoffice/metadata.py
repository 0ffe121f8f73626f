"""Joining film metadata and buzz to box-office releases by normalized title and release year.

The sources share no id: Box Office Mojo has release ids, The Numbers and TMDB have their own.
A title is normalized (accents, mojibake, punctuation, articles, "&") and matched to a release
within +-1 year of its opening; among several candidates the nearest date wins.

The bundled ``metadata.parquet`` (built by ``data/build_dataset.py``) holds every row of The
Numbers and TMDB 5000 in one schema (``METADATA_TABLE_COLUMNS``), so that a film outside the
catalog gets its metadata the way catalog films got theirs: ``bundled_metadata``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import pandas as pd

from ..settings import BUNDLED_DATA_DIR

METADATA_FILE = "metadata.parquet"
# What a film gets from the metadata sources (the order of these columns in films.parquet).
METADATA_COLUMNS = ["budget", "genres", "mpaa", "runtime", "production_company"]
# metadata.parquet: one row per row of a source; genres '|'-separated in TMDB's vocabulary. TMDB rows
# keep their TMDB id (The Numbers has none), so image sets that carry ids join by id, not by title.
METADATA_TABLE_COLUMNS = ["source", "title", "release_date", "tmdb_id", *METADATA_COLUMNS]
NUMBERS, TMDB = "the_numbers", "tmdb"  # values of its ``source`` column

_PARENTHETICAL = re.compile(r"\s*\((?:\d{4}|re-?release|imax|3d|[0-9]+(?:st|nd|rd|th) anniversary)[^)]*\)\s*", re.I)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _fix_mojibake(text: str) -> str:
    """Undo UTF-8 text that was decoded as Latin-1 once (e.g. 'PenÃ©lope' -> 'Penélope')."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def normalize_title(title: object) -> str:
    """A key that survives the spelling differences between sources; '' for a missing title."""
    if not isinstance(title, str):
        return ""
    text = _fix_mojibake(title)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = _PARENTHETICAL.sub(" ", text).replace("&", " and ")
    words = _NON_ALNUM.sub(" ", text).split()
    if words and words[0] in {"the", "a", "an"}:
        words = words[1:]
    return " ".join(words)


def match_by_title_year(
    films: pd.DataFrame, other: pd.DataFrame, *, other_date: str, year_window: int = 1
) -> pd.Series:
    """For each film (``film_id, title, release_date``) the index label of its row in ``other``.

    ``other`` needs ``title`` and the date column ``other_date``; rows without a date never match.
    Returns a Series film_id -> label in ``other`` (missing when unmatched).
    """
    left = films[["film_id", "title", "release_date"]].assign(key=films["title"].map(normalize_title))
    right = pd.DataFrame({
        "key": other["title"].map(normalize_title),
        "other_date": pd.to_datetime(other[other_date], errors="coerce"),
        "label": other.index,
    }).dropna(subset=["other_date"])
    pairs = left.merge(right[right["key"] != ""], on="key")
    gap_days = (pairs["other_date"] - pd.to_datetime(pairs["release_date"])).dt.days.abs()
    pairs = pairs.assign(gap=gap_days)[gap_days <= 366 * year_window + 1]
    best = pairs.sort_values("gap", kind="stable").drop_duplicates("film_id")
    return best.set_index("film_id")["label"]


def match_report(name: str, matched: pd.Series, films: pd.DataFrame, covered: pd.Series) -> dict:
    """Match rate of one join, overall and within the years the source covers."""
    in_coverage = films.loc[covered.values, "film_id"]
    return {
        "source": name,
        "films": int(len(films)),
        "matched": int(matched.index.isin(films["film_id"]).sum()),
        "match_rate": round(float(films["film_id"].isin(matched.index).mean()), 4),
        "films_in_coverage": int(len(in_coverage)),
        "match_rate_in_coverage": round(float(in_coverage.isin(matched.index).mean()), 4) if len(in_coverage) else None,
    }


# ----------------------------------------------------------------- combining The Numbers and TMDB


def matched_rows(films: pd.DataFrame, table: pd.DataFrame, matches: pd.Series) -> pd.DataFrame:
    """The row of ``table`` matched to each film (``matches``: film_id -> label), aligned with ``films``;
    all-missing for an unmatched film."""
    return table.reindex(films["film_id"].map(matches).values).set_axis(films.index)


def combine_metadata(numbers: pd.DataFrame, tmdb: pd.DataFrame) -> pd.DataFrame:
    """``METADATA_COLUMNS`` per film from its aligned The Numbers and TMDB rows (missing where unmatched).

    Budget from The Numbers, else TMDB; genres from TMDB (multi-label), else The Numbers' one
    genre; MPAA rating and production company from The Numbers (TMDB has neither); runtime from
    The Numbers, else TMDB.
    """
    tmdb_genres = tmdb["genres"].where(tmdb["genres"].fillna("") != "")
    return pd.DataFrame({
        "budget": numbers["budget"].fillna(tmdb["budget"]),
        "genres": tmdb_genres.fillna(numbers["genres"]),
        "mpaa": numbers["mpaa"],
        "runtime": numbers["runtime"].fillna(tmdb["runtime"]),
        "production_company": numbers["production_company"],
    }, index=numbers.index)


@lru_cache(maxsize=2)
def metadata_table(data_dir: Path = BUNDLED_DATA_DIR) -> pd.DataFrame:
    """The bundled metadata.parquet: every row of The Numbers and TMDB 5000 (``METADATA_TABLE_COLUMNS``)."""
    path = Path(data_dir) / METADATA_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: rebuild the bundled dataset with "
            "`python -m cineseq_assets.data.build_dataset --raw <folder with the raw sources>`.")
    return pd.read_parquet(path)


def bundled_metadata(films: pd.DataFrame, data_dir: Path = BUNDLED_DATA_DIR) -> pd.DataFrame:
    """Metadata of ``films`` (``film_id, title, release_date``) from the bundled tables, by title and year.

    Returns one row per film, indexed by film_id: ``METADATA_COLUMNS`` (missing where no source
    matched) and ``the_numbers_match`` / ``tmdb_match`` flags. A catalog film gets exactly what
    films.parquet holds for it: the same tables, matched and combined the same way.
    """
    table = metadata_table(data_dir)
    films = films[["film_id", "title", "release_date"]].reset_index(drop=True)
    rows, found = {}, {}
    for source in (NUMBERS, TMDB):
        part = table[table["source"] == source]
        matches = match_by_title_year(films, part, other_date="release_date")
        rows[source] = matched_rows(films, part, matches)
        found[source] = films["film_id"].isin(matches.index)
    combined = combine_metadata(rows[NUMBERS], rows[TMDB])
    combined["the_numbers_match"] = found[NUMBERS].to_numpy()
    combined["tmdb_match"] = found[TMDB].to_numpy()
    return combined.set_axis(pd.Index(films["film_id"], name="film_id"))


def with_bundled_metadata(films: pd.DataFrame) -> pd.DataFrame:
    """The films table with budget, genres, mpaa, runtime and production company filled in from the
    bundled metadata tables, by title and release year, where the file gave none."""
    found = bundled_metadata(films).reindex(films["film_id"]).set_axis(films.index)
    filled = films.copy()
    for column in METADATA_COLUMNS:
        # An all-empty column reads as float NaN: take the bundled values whole rather than fill
        # text into a float column.
        given = column in filled and filled[column].notna().any()
        filled[column] = filled[column].fillna(found[column]) if given else found[column]
    return filled
