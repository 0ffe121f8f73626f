"""The bounds on what a user's file may ask for, so that no number in the input makes memory or time
grow without limit (a week number of 10**9 once meant a billion gap rows), and values no film has
ever had are refused with a message instead of reaching the model or the JSON answer.

Each bound is far beyond any real film (the figures of the bundled data are given beside it);
``docs/user_data.md`` lists them for users.
"""

from __future__ import annotations

# Weeks of run. A missing week becomes a gap row, so the highest week number sets the table's size.
# The longest run in the bundled chart is 1205 weeks (a film re-released over 23 years).
MAX_WEEK = 1560  # 30 years
# A daily file's days span at most as many weeks, counted from the release_date or first day.
MAX_RUN_DAYS = 7 * MAX_WEEK
# Dates (days, release dates): the holiday calendar and market tables are computed for these years.
FIRST_YEAR, LAST_YEAR = 1900, 2100

# Money and counts. The biggest day on the bundled chart is $157M (Avengers: Endgame's opening day),
# the biggest week $474M, the widest release 4,931 theaters, the largest budget $400M.
MAX_DAY_GROSS = 1e9
MAX_WEEK_GROSS = 7 * MAX_DAY_GROSS
MAX_THEATERS = 10_000
MAX_BUDGET = 1e9
MAX_RUNTIME_MINUTES = 1_000  # the longest in the bundled tables is 338

# File size. The whole 25-year Box Office Mojo daily chart is 37.5 MB of CSV (8.6 MB gzipped); a
# gzip file is inflated in chunks and refused once its text passes the bound, so a small file
# that inflates to gigabytes (a "gzip bomb") costs neither the memory nor the minutes.
MAX_TEXT_BYTES = 256 * 2**20
MAX_ROWS = 5_000_000  # a Parquet file says how many rows it holds before any is read


def money(value: float) -> str:
    """$1,000,000,000 for a message."""
    return f"${value:,.0f}"
