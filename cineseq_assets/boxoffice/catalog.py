"""The film catalog: which films get a partition, in which order, and the showcase."""

from __future__ import annotations

import pandas as pd

from .panel import MIN_PANEL_WEEKS
from .schema import FILM_COLUMNS, WIDE_RELEASE_THEATERS
from .sources import BoxOfficeData

CATALOG_COLUMNS = [*FILM_COLUMNS, "release_width", "showcase"]


def catalog_table(data: BoxOfficeData) -> pd.DataFrame:
    """Films with enough usable weeks and no validation error: showcase first, then by release date.

    The order is the partition order, so the showcase films form one contiguous partition range
    (a quick run is one range, from the UI or the CLI).
    """
    films = data.films[(data.films["usable_weeks"] >= MIN_PANEL_WEEKS) & ~data.films["film_id"].isin(list(data.rejected))].copy()
    if "showcase" not in films:
        films["showcase"] = False
    films["showcase"] = films["showcase"].fillna(False).astype(bool)
    films["release_width"] = (films["opening_theaters"] >= WIDE_RELEASE_THEATERS).map({True: "wide", False: "limited"})
    extra = [c for c in ("genres", "budget", "mpaa") if c in films]
    ordered = films.sort_values(["showcase", "release_date", "film_id"], ascending=[False, True, True])
    return ordered[CATALOG_COLUMNS + extra].reset_index(drop=True)


def match_rate_table(joins: list[dict]) -> str:
    """The bundled dataset's join match rates as a markdown table."""
    lines = ["| source | matched | of films | rate | rate in the source's years |", "|---|---|---|---|---|"]
    for join in joins:
        in_years = join["match_rate_in_coverage"]
        lines.append(f"| {join['source']} | {join['matched']} | {join['films']} | {join['match_rate']:.1%} | "
                     f"{in_years:.1%} of {join['films_in_coverage']} |")
    return "\n".join(lines)


def films_to_register(catalog: pd.DataFrame, registered: list[str]) -> list[str]:
    """Catalog films that have no partition yet, in catalog order."""
    known = set(registered)
    return [film for film in catalog["film_id"] if film not in known]
