"""Write the two example user files from real Box Office Mojo daily numbers.

    .venv/bin/python examples/make_examples.py [path/to/bom_daily_*.csv.gz]

The chart is read from the shared data folder (``$CINESEQ_SHARED``, else ``../shared`` beside
the checkout) unless a path is given.

Three films, their first seven weeks of daily grosses as charted by Box Office Mojo (the
tjwaterman99 daily scrape). ``my_films_daily.csv`` holds the days; ``my_films_weekly.csv`` holds
the same run summed into weeks by ``cineseq_assets.boxoffice.weekly`` plus per-film metadata, so
loading either file gives the same weekly grosses. See docs/user_data.md for the format.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cineseq_assets.boxoffice.weekly import daily_to_weekly  # noqa: E402

SHARED = Path(os.environ.get("CINESEQ_SHARED", ROOT.parent / "shared"))
DEFAULT_CHART = SHARED / "data/raw/bom_daily_tjwaterman99/bom_daily_2000-01-01_2025-01-03.csv.gz"
EXAMPLES_DIR = Path(__file__).resolve().parent
WEEKS = 7

# Box Office Mojo release id -> film_id slug. Three wide releases whose first seven weeks are
# complete on the chart (no missing day), so every example week is a full week.
FILMS = {
    "rl2908456449": "inception-2010",
    "rl1802536449": "the-social-network-2010",
    "rl3195962881": "arrival-2016",
}

# Per-film metadata for the weekly example, from the films' public listings (TMDB genres, MPAA
# rating, runtime in minutes, reported production budget in US dollars).
METADATA = {
    "inception-2010": ("Action|Science Fiction|Adventure", 160_000_000, "PG-13", 148),
    "the-social-network-2010": ("Drama", 40_000_000, "PG-13", 120),
    "arrival-2016": ("Drama|Science Fiction|Mystery", 47_000_000, "PG-13", 116),
}


def daily_rows(chart_path: Path) -> pd.DataFrame:
    """The first WEEKS weeks of each example film, one row per film-day, in the user format."""
    chart = pd.read_csv(chart_path, usecols=["date", "release_id", "title", "daily_gross", "theaters",
                                             "days_in_release", "distributor"])
    chart = chart[chart["release_id"].isin(list(FILMS))].copy()
    day_of_run = pd.to_numeric(chart["days_in_release"], errors="coerce")
    chart = chart[day_of_run.between(1, 7 * WEEKS)]
    daily = pd.DataFrame({
        "film_id": chart["release_id"].map(FILMS),
        "date": chart["date"],
        "title": chart["title"],
        "gross": chart["daily_gross"].astype("int64"),
        "theaters": chart["theaters"].astype("int64"),
        "distributor": chart["distributor"],
    })
    return daily.sort_values(["film_id", "date"], key=_film_order).reset_index(drop=True)


def _film_order(column: pd.Series) -> pd.Series:
    """Sort films in release order (the order of FILMS), dates ascending."""
    return column.map(list(FILMS.values()).index) if column.name == "film_id" else column


def weekly_rows(daily: pd.DataFrame) -> pd.DataFrame:
    """The daily example summed into weeks of run, with title, release date and metadata."""
    weekly = daily_to_weekly(daily.assign(day_of_run=None))
    assert weekly["full_week"].all(), "example films must have complete weeks"
    per_film = daily.groupby("film_id").agg(title=("title", "first"), release_date=("date", "min"),
                                            distributor=("distributor", "first"))
    rows = weekly.join(per_film, on="film_id")
    genres, budget, mpaa, runtime = zip(*rows["film_id"].map(METADATA))
    return pd.DataFrame({
        "film_id": rows["film_id"],
        "week": rows["week"],
        "title": rows["title"],
        "release_date": rows["release_date"],
        "gross": rows["gross"].astype("int64"),
        # The widest count of the week: a weekly chart reports the theaters a film played in.
        "theaters": rows["theaters_max"].astype("int64"),
        "distributor": rows["distributor"],
        "genres": genres,
        "budget": budget,
        "mpaa": mpaa,
        "runtime": runtime,
    }).sort_values(["film_id", "week"], key=_film_order).reset_index(drop=True)


def main(chart_path: Path = DEFAULT_CHART, out: Path = EXAMPLES_DIR) -> None:
    daily = daily_rows(chart_path)
    daily.to_csv(out / "my_films_daily.csv", index=False)
    weekly_rows(daily).to_csv(out / "my_films_weekly.csv", index=False)
    print(f"wrote {len(daily)} daily rows and {daily['film_id'].nunique() * WEEKS} weekly rows to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CHART)
