"""Joining film metadata and buzz to box-office releases by normalized title and release year.

The sources share no id: Box Office Mojo has release ids, The Numbers and TMDB have their own.
A title is normalized (accents, mojibake, punctuation, articles, "&") and matched to a release
within +-1 year of its opening; among several candidates the nearest date wins.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

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
    best = pairs.sort_values("gap").drop_duplicates("film_id")
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
