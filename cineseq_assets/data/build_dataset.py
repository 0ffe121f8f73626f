"""Build CineSeq's bundled dataset from the raw sources.

    python -m cineseq_assets.data.build_dataset --raw ../shared/data/raw

Reads the Box Office Mojo daily chart, The Numbers budgets, TMDB 5000 and TrailerTrends (Google
Trends + YouTube) and writes compact derived tables beside this file:

    weekly_box_office.parquet  weekly rows of every catalog film (partial weeks kept, flagged), with
                               the gross of each day of the week (day_gross_1..7)
    films.parquet              one row per catalog film: box office summary, metadata, buzz, flags
    market_daily.parquet       whole-chart gross and wide openings per calendar day
    trends_weekly.parquet      pre-release weekly Google Trends interest of the matched films
    metadata.parquet           every row of The Numbers and TMDB 5000 in one schema, so that films
                               outside the catalog can be matched too (boxoffice.metadata)
    build_report.json          counts and the match rate of every join

Rerunnable: the same raw files give the same tables.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from cineseq_assets.boxoffice.metadata import (
    METADATA_TABLE_COLUMNS,
    NUMBERS,
    TMDB,
    combine_metadata,
    match_by_title_year,
    match_report,
    matched_rows,
)
from cineseq_assets.boxoffice.schema import DAY_GROSS_COLUMNS, MIN_CATALOG_WEEKS, WIDE_RELEASE_THEATERS
from cineseq_assets.boxoffice.sources import from_daily

HERE = Path(__file__).resolve().parent
BOM_FILE = "bom_daily_tjwaterman99/bom_daily_2000-01-01_2025-01-03.csv.gz"
NUMBERS_FILE = "the_numbers_budgets_delafields/movie-budgets.csv"
TMDB_FILE = "tmdb5000_kicks07/tmdb_5000_movies.csv"
TRENDS_FILE = "trailer_trends_cyrfar/searches.csv"
YOUTUBE_FILE = "trailer_trends_cyrfar/youtube_trailers.csv"


def read_bom_daily(raw: Path) -> pd.DataFrame:
    daily = pd.read_csv(raw / BOM_FILE)
    return daily.rename(columns={"release_id": "film_id", "daily_gross": "gross", "days_in_release": "day_of_run"})


def _money(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column.astype(str).str.replace(r"[$,]", "", regex=True), errors="coerce")


def _chart_label(column: pd.Series) -> pd.Series:
    """The Numbers' scrape sometimes holds the name of a chart instead of the value, e.g.
    'All Time Domestic Box Office for R Movies (Rank 501-600)' for the rating R: keep the label."""
    text = column.astype("string")
    label = text.str.extract(r"Box Office for (.+?) Movies", expand=False)
    return label.fillna(text).replace({"Genre Tracking": pd.NA})


# The Numbers' one genre, in TMDB's vocabulary so that genres are one label set.
NUMBERS_TO_TMDB_GENRES = {
    "Thriller/Suspense": "Thriller",
    "Romantic Comedy": "Romance|Comedy",
    "Black Comedy": "Comedy",
    "Musical": "Music",
    "Concert/Performance": "Music",
}


def read_the_numbers(raw: Path) -> pd.DataFrame:
    numbers = pd.read_csv(raw / NUMBERS_FILE, index_col=0)
    return pd.DataFrame({
        "title": numbers["title"],
        "release_date": pd.to_datetime(numbers["release_date"], format="%b %d, %Y", errors="coerce"),
        "budget": _money(numbers["production_budget"]),
        "genres": _chart_label(numbers["genre"]).replace(NUMBERS_TO_TMDB_GENRES),
        "mpaa": _chart_label(numbers["MPAA_Rating"]),
        "runtime": pd.to_numeric(numbers["runtime"].str.extract(r"(\d+)")[0], errors="coerce"),
        "production_company": numbers["production_company"],
    })


def read_tmdb(raw: Path) -> pd.DataFrame:
    tmdb = pd.read_csv(raw / TMDB_FILE)
    genres = tmdb["genres"].map(lambda text: "|".join(g["name"] for g in json.loads(text)) if isinstance(text, str) else "")
    return pd.DataFrame({
        "title": tmdb["title"],
        "tmdb_id": tmdb["movie_id"].astype("Int64"),
        "release_date": pd.to_datetime(tmdb["release_date"], format="%m/%d/%Y", errors="coerce"),
        "genres": genres,
        "runtime": tmdb["runtime"],
        "budget": tmdb["budget"].where(tmdb["budget"] > 0),
        "vote_average": tmdb["vote_average"],
        "vote_count": tmdb["vote_count"],
        "popularity": tmdb["popularity"],
    })


def read_trends(raw: Path) -> pd.DataFrame:
    """Weekly interest per title; the repeated header lines and re-fetched duplicates dropped."""
    trends = pd.read_csv(raw / TRENDS_FILE, dtype=str)
    trends = trends[trends["dates"] != "dates"]
    trends = pd.DataFrame({
        "title": trends["title"],
        "date": pd.to_datetime(trends["dates"]),
        "interest": pd.to_numeric(trends["searches"], errors="coerce"),
    }).dropna()
    return trends.drop_duplicates(["title", "date"], keep="last").sort_values(["title", "date"])


def catalog_films(films: pd.DataFrame, showcase: pd.DataFrame) -> pd.DataFrame:
    catalog = films[films["usable_weeks"] >= MIN_CATALOG_WEEKS].copy()
    catalog["release_width"] = (catalog["opening_theaters"] >= WIDE_RELEASE_THEATERS).map({True: "wide", False: "limited"})
    keys = set(zip(showcase["title"], showcase["year"]))
    catalog["showcase"] = [(t, d.year) in keys for t, d in zip(catalog["title"], catalog["release_date"])]
    chosen = catalog.loc[catalog["showcase"]]
    missing = keys - {(t, d.year) for t, d in zip(chosen["title"], chosen["release_date"])}
    if missing:
        raise SystemExit(f"showcase.csv names films not in the catalog: {sorted(missing)}. "
                         "Fix the titles or years in showcase.csv.")
    return catalog


def metadata_rows(numbers: pd.DataFrame, tmdb: pd.DataFrame) -> pd.DataFrame:
    """Every row of both sources in one schema (metadata.METADATA_TABLE_COLUMNS), each source's rows
    in file order. TMDB's vote and popularity snapshots, taken after release, are left out."""
    parts = [table.assign(source=source).reindex(columns=METADATA_TABLE_COLUMNS)
             for source, table in ((NUMBERS, numbers), (TMDB, tmdb))]
    rows = pd.concat(parts, ignore_index=True)
    rows["genres"] = rows["genres"].where(rows["genres"].fillna("") != "")  # TMDB writes no genre as ""
    text = {column: "str" for column in ("source", "title", "genres", "mpaa", "production_company")}
    return rows.astype({"tmdb_id": "Int64", "budget": float, "runtime": float, **text})


def join_metadata(catalog: pd.DataFrame, numbers: pd.DataFrame, tmdb: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Attach The Numbers and TMDB columns, combined by ``metadata.combine_metadata``."""
    num_match = match_by_title_year(catalog, numbers, other_date="release_date")
    tmdb_match = match_by_title_year(catalog, tmdb, other_date="release_date")
    tm = matched_rows(catalog, tmdb, tmdb_match)
    out = catalog.copy()
    out["the_numbers_match"] = catalog["film_id"].isin(num_match.index)
    out["tmdb_match"] = catalog["film_id"].isin(tmdb_match.index)
    for column, values in combine_metadata(matched_rows(catalog, numbers, num_match), tm).items():
        out[column] = values
    out["tmdb_vote_average"] = tm["vote_average"]
    out["tmdb_vote_count"] = tm["vote_count"]
    out["tmdb_popularity"] = tm["popularity"]
    year = catalog["release_date"].dt.year
    reports = [
        match_report("The Numbers", num_match, catalog, year <= 2019),
        match_report("TMDB 5000", tmdb_match, catalog, year <= 2016),
    ]
    return out, reports


def join_buzz(catalog: pd.DataFrame, trends: pd.DataFrame,
              youtube: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """Trends series whose window ends before the release (pre-release only), and YouTube stats.

    The YouTube table has no dates: its films were released 2010-2017, so a title matches a
    release of those years only.
    """
    series_end = trends.groupby("title")["date"].max().rename("date").reset_index()
    trend_match = match_by_title_year(catalog, series_end.set_index("title", drop=False), other_date="date")
    release = catalog.set_index("film_id")["release_date"]
    end_by_title = series_end.set_index("title")["date"]
    pre_release = [film for film, title in trend_match.items() if end_by_title.loc[title] < release[film]]
    trend_match = trend_match[pre_release]
    trend_rows = trends.merge(trend_match.rename("title").rename_axis("film_id").reset_index(), on="title")
    trend_rows = trend_rows[["film_id", "date", "interest"]].sort_values(["film_id", "date"]).reset_index(drop=True)

    in_youtube_years = catalog[catalog["release_date"].dt.year.between(2010, 2017)]
    yt = youtube.assign(date=pd.Timestamp("2014-01-01"))
    yt_match = match_by_title_year(in_youtube_years, yt, other_date="date", year_window=5)
    out = catalog.copy()
    stats = youtube.reindex(catalog["film_id"].map(yt_match).values).set_axis(catalog.index)
    out["youtube_views"] = stats["views"]
    out["youtube_likes"] = stats["likes"]
    out["trends_match"] = catalog["film_id"].isin(trend_match.index)
    out["youtube_match"] = catalog["film_id"].isin(yt_match.index)
    year = catalog["release_date"].dt.year
    reports = [
        match_report("Google Trends (TrailerTrends)", trend_match, catalog, year.between(2012, 2018)),
        match_report("YouTube trailers (TrailerTrends)", yt_match, catalog, year.between(2010, 2017)),
    ]
    return out, trend_rows, reports


# Dollar columns of the weekly table: exact float64, stored byte-stream-split (the bytes of each
# position together) and zstd-compressed. The seven day columns would otherwise almost triple the
# file (0.9 MB -> 2.5 MB with the default codec; 1.3 MB this way, values unchanged).
WEEKLY_MONEY_COLUMNS = ["gross", "cum_gross", *DAY_GROSS_COLUMNS]


def write_weekly(weekly: pd.DataFrame, path: Path) -> None:
    other = [column for column in weekly.columns if column not in WEEKLY_MONEY_COLUMNS]
    weekly.to_parquet(path, index=False, compression="zstd", use_dictionary=other,
                      column_encoding=dict.fromkeys(WEEKLY_MONEY_COLUMNS, "BYTE_STREAM_SPLIT"))


def build(raw: Path, out_dir: Path) -> dict:
    print(f"reading the Box Office Mojo daily chart from {raw / BOM_FILE}", flush=True)
    daily = read_bom_daily(raw)
    data = from_daily(daily, source="bundled")
    showcase = pd.read_csv(HERE / "showcase.csv")
    catalog = catalog_films(data.films, showcase)
    print(f"{len(data.films)} releases, {len(catalog)} with at least {MIN_CATALOG_WEEKS} full weeks", flush=True)

    numbers, tmdb = read_the_numbers(raw), read_tmdb(raw)
    catalog, meta_reports = join_metadata(catalog, numbers, tmdb)
    metadata = metadata_rows(numbers, tmdb)
    catalog, trend_rows, buzz_reports = join_buzz(catalog, read_trends(raw), pd.read_csv(raw / YOUTUBE_FILE))
    weekly = data.weekly[data.weekly["film_id"].isin(catalog["film_id"])]

    out_dir.mkdir(parents=True, exist_ok=True)
    write_weekly(weekly, out_dir / "weekly_box_office.parquet")
    catalog.reset_index(drop=True).to_parquet(out_dir / "films.parquet", index=False)
    data.market.to_parquet(out_dir / "market_daily.parquet", index=False)
    trend_rows.to_parquet(out_dir / "trends_weekly.parquet", index=False)
    metadata.to_parquet(out_dir / "metadata.parquet", index=False, compression="zstd")
    report = {
        "releases_in_chart": int(len(data.films)),
        "catalog_films": int(len(catalog)),
        "showcase_films": int(catalog["showcase"].sum()),
        "wide_films": int((catalog["release_width"] == "wide").sum()),
        "catalog_years": [int(catalog["release_date"].dt.year.min()), int(catalog["release_date"].dt.year.max())],
        "weekly_rows": int(len(weekly)),
        "metadata_rows": {source: int(count) for source, count in metadata["source"].value_counts(sort=False).items()},
        "joins": meta_reports + buzz_reports,
    }
    (out_dir / "build_report.json").write_text(json.dumps(report, indent=2) + "\n")
    for join in report["joins"]:
        print(f"  {join['source']:<34} matched {join['matched']:>5} of {join['films']} ({join['match_rate']:.1%}); "
              f"in its years {join['match_rate_in_coverage']:.1%} of {join['films_in_coverage']}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder holding the raw sources (shared/data/raw)")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the tables (default: the package)")
    args = parser.parse_args(argv)
    if not (args.raw / BOM_FILE).exists():
        print(f"{args.raw / BOM_FILE} not found: pass --raw the folder that holds the raw sources.", file=sys.stderr)
        return 2
    build(args.raw, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
