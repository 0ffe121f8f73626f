"""Column names and table contracts shared by every box-office source and the panel.

Long tables keyed by ``film_id`` (one row per film-day or film-week), dates as real dates,
money as float nominal dollars. Renaming ``film_id, week_start, gross`` to ``unique_id, ds, y``
gives the common forecasting long format.
"""

from __future__ import annotations

# Daily chart rows, as parsed from Box Office Mojo or read from a user's daily file.
DAILY_COLUMNS = ["film_id", "date", "title", "gross", "theaters", "distributor", "day_of_run"]

# The gross of day k of a run week (day 1 = week_start, so a Friday opening has day 1 = Friday).
DAY_GROSS_COLUMNS = [f"day_gross_{k}" for k in range(1, 8)]

# Weekly rows per film: week k holds days 7(k-1)+1 .. 7k of the run, counted from opening day.
WEEKLY_COLUMNS = [
    "film_id",
    "week",  # 1 = opening week
    "week_start",  # opening day + 7(week-1)
    "gross",  # sum of the days present
    "days_present",  # 0..7; a missing day is missing, never zero
    "full_week",  # all 7 days present
    "theaters_max",
    "theaters_mean",
    "cum_gross",  # running sum of weekly gross
    "usable",  # part of the usable run: full weeks from week 1 up to the first incomplete one
    # Days 1..7 of the week, NaN where the day is missing from the chart (never zero), and always
    # NaN for a weekly source (a user's weekly file has no days): the intra-week shape features.
    *DAY_GROSS_COLUMNS,
]

# One row per film.
FILM_COLUMNS = [
    "film_id",
    "title",
    "release_date",
    "distributor",
    "opening_theaters",
    "usable_weeks",
    "total_gross",
]

# Daily market-wide context: what was on the whole chart each calendar day.
MARKET_COLUMNS = ["date", "chart_gross", "wide_openings"]

# A release is "wide" when it opens in at least this many theaters. Two thousand matches the
# width split used in the dataset's own quality check (and a national release since 2000).
WIDE_RELEASE_THEATERS = 2000

# The genre names (TMDB's vocabulary) and MPAA ratings the forecaster reads as features; a user's
# file may carry others, which are read as unknown (the loader says so).
FILM_GENRES = ("Drama", "Comedy", "Action", "Adventure", "Thriller", "Romance", "Family", "Crime",
               "Science Fiction", "Fantasy", "Animation", "Horror", "Mystery", "Music", "History", "War",
               "Documentary", "Western")
MPAA_RATINGS = ("G", "PG", "PG-13", "R", "NC-17")

# A film enters the default catalog with at least this many full weeks from opening.
MIN_CATALOG_WEEKS = 6

# 2: market_coverage; a partial market is unknown (has_market 0, market columns NaN).
# 3: the shape of the week from the daily chart (features.daily_shape_features): day_gross_1..7,
#    weekend_share, sunday_over_friday, late_week_retention, last_day_level, has_daily.
PANEL_SCHEMA_VERSION = "3"

# Metadata that is a snapshot taken long after release (TMDB ratings and popularity): kept in the
# panel for analysis, never to be used as a forecasting feature.
POST_RELEASE_COLUMNS = ["tmdb_vote_average", "tmdb_vote_count", "tmdb_popularity"]
