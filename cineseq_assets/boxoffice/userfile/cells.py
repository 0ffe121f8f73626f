"""One column of cells parsed to its type: text, numbers ("$1,234,567" too), ISO dates, genre lists.
Each parser also says which non-empty cells it could not read, for the row checks to report."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

# "$1,234,567" is how box office is usually written; commas count only as thousands separators
# so that a decimal comma ("1234,5") is reported rather than read as 12345.
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")

# Dates from a Parquet date column get the unit pandas gives dates parsed from text, so that a
# CSV and a Parquet copy of the same file load into identical tables.
_DATE_DTYPE = pd.to_datetime(pd.Series(["2000-01-01"])).dtype


def is_present(values: pd.Series) -> pd.Series:
    """Which cells hold something: not NaN or None, and not only spaces."""
    missing = values.isna()
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return ~missing
    blank = values.where(~missing, "").astype(str).str.strip().eq("")
    return (~missing & ~blank).astype(bool)


def cell_text(value) -> str:
    """One cell as the user typed it, for a message."""
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value).strip()


def as_texts(values: pd.Series) -> pd.Series:
    """Cells as stripped text; empty cells NaN."""
    return values.astype(str).str.strip().where(is_present(values))


def as_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Values as floats, and which non-empty cells are not finite numbers."""
    present = is_present(values)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        parsed = values.astype(float)
    else:
        text = values.astype(str).str.strip().str.replace("$", "", n=1, regex=False)
        grouped = text.str.fullmatch(_THOUSANDS.pattern).fillna(False).astype(bool)
        text = text.where(~grouped, text.str.replace(",", "", regex=False))
        parsed = pd.to_numeric(text.where(present), errors="coerce").astype(float)
    parsed = parsed.where(np.isfinite(parsed))
    return parsed, present & parsed.isna()


def as_dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Values as dates (ISO 8601: YYYY-MM-DD), and which non-empty cells are not dates."""
    present = is_present(values)
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize(None) if values.dt.tz is not None else values
    else:  # text, or the datetime.date objects of a Parquet date column: both print as ISO dates
        parsed = pd.to_datetime(as_texts(values), format="ISO8601", errors="coerce")
    parsed = parsed.dt.normalize().astype(_DATE_DTYPE)
    return parsed, present & parsed.isna()


def as_genres(values: pd.Series) -> pd.Series:
    """'Action | Sci-Fi' -> 'Action|Sci-Fi'; ',' and ';' are taken as separators too."""
    texts = as_texts(values)
    tidy = {text: "|".join(name.strip() for name in re.split(r"[|,;]", text) if name.strip()) or None
            for text in texts.dropna().unique()}  # a few distinct values repeated on many rows
    return texts.map(tidy)
