"""Panels of films the asset graph has not seen: a user's box office file, or the weeks typed into a form.

Both ``cineseq forecast`` (forecast.cli_forecast) and the demo's New film tab (forecast.serving)
forecast such films; this module builds their panel rows the way the asset graph builds them.
The file is read by ``boxoffice.userfile`` (daily or weekly long format, or the Box Office Mojo
daily chart's own columns; docs/user_data.md). Each film's panel reads the whole-chart market
day by day from the file where it holds a whole daily chart, else from the bundled chart
(``boxoffice.weekly.best_market``), metadata from the bundled The Numbers and TMDB tables matched by title and
release year (values given in the file win), and the pre-release Google Trends series of films
that are in the bundled catalog. One full week is enough: the model is trained from origin week 1 on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..boxoffice.bundled import bundled_trends, load_bundled
from ..boxoffice.features import MarketCalendar
from ..boxoffice.metadata import with_bundled_metadata
from ..boxoffice.panel import film_panel
from ..boxoffice.sources import BoxOfficeData
from ..boxoffice.userfile import load_user_file
from ..boxoffice.weekly import best_market
from ..errors import CineSeqError

# A forecast can start from the opening week alone: training windows start at origin week 1.
MIN_FORECAST_WEEKS = 1
PROGRESS_FILMS = 500


def user_file_panels(input_path, market: MarketCalendar | None = None, warnings: list | None = None,
                     progress: Callable[[str], None] | None = None) -> tuple[list[pd.DataFrame], dict[str, str]]:
    """The panel of every film of the file that can be forecast, and film_id -> why the others cannot.

    ``market`` is the whole-chart calendar beside the file's own (default: the bundled one); a daily file's
    whole-chart days win where they hold more (``boxoffice.weekly.best_market``). Raises ``InputFileError`` for
    a problem with the whole file; repairs made while reading it are appended to ``warnings``.
    ``progress``, when given, is told each stage and every ``PROGRESS_FILMS`` panels.
    """
    data = load_user_file(input_path, warnings, min_weeks=MIN_FORECAST_WEEKS)
    rejected = dict(data.rejected)
    if data.films.empty:
        return [], rejected
    films = data.films["film_id"]
    if progress:
        progress(f"loaded {len(films):,} films ({len(rejected):,} left out); building their panels")
    market = _market_with_file(data, market)
    data.films = with_bundled_metadata(data.films)
    frames = []
    for done, film_id in enumerate(films, start=1):
        try:
            frames.append(film_panel_for_forecast(data, film_id, market))
        except (CineSeqError, ValueError, KeyError) as error:
            rejected[film_id] = f"film {film_id!r}: its panel could not be built ({error})"
        if progress and done % PROGRESS_FILMS == 0:
            progress(f"panels {done:,} of {len(films):,}")
    return frames, rejected


def _market_with_file(data: BoxOfficeData, market: MarketCalendar | None) -> MarketCalendar:
    fallback = market.table if market is not None else load_bundled().market
    if not len(data.market):  # a weekly file, or a daily one of a few films: nothing to add
        return market if market is not None else MarketCalendar(fallback)
    return MarketCalendar(best_market(data.market, fallback))


def first_film_panel(input_path, market: MarketCalendar | None = None, warnings: list | None = None) -> pd.DataFrame:
    """The panel of the first film of a one-film file (the demo's New film tab); an error saying why none can be forecast.
    What the loader repaired or read as unknown (an unknown genre, a budget beyond any film's) is appended to ``warnings``."""
    panels, rejected = user_file_panels(input_path, market, warnings)
    if not panels:
        reasons = "; ".join(rejected.values()) or "it holds no film"
        raise CineSeqError(f"{Path(input_path).name}: no film can be forecast: {reasons}")
    return panels[0]


def film_panel_for_forecast(data: BoxOfficeData, film_id: str, market: MarketCalendar | None) -> pd.DataFrame:
    """Panel rows of one film as the weekly_panel asset builds them, from one full week on."""
    return film_panel(data, film_id, market, trends=_trends(data.film(film_id)), min_weeks=MIN_FORECAST_WEEKS)


def _trends(film: pd.Series) -> pd.DataFrame | None:
    """The bundled pre-release Trends series, for a catalog film (same id and opening day) only."""
    catalog, film_id = load_bundled().films_by_id(), film["film_id"]
    same_film = film_id in catalog.index and catalog.at[film_id, "release_date"] == pd.Timestamp(film["release_date"])
    return bundled_trends().get(film_id) if same_film else None


def write_weekly_file(weeks: pd.DataFrame, path: Path, *, release_date: str, title: str = "",
                      genres: list[str] | None = None, budget: float | None = None, mpaa: str | None = None) -> Path:
    """A one-film weekly file (docs/user_data.md) from a table of week, gross[, theaters] rows.

    Rows without a gross are dropped (a form's empty rows); the loader validates the rest and
    names the row and column of anything wrong.
    """
    table = pd.DataFrame(weeks).copy()
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = {"week", "gross"} - set(table.columns)
    if missing:
        raise CineSeqError(f"the weeks table needs the columns week and gross (and, better, theaters); "
                           f"missing: {', '.join(sorted(missing))}")
    table = table[table["gross"].astype(str).str.strip().ne("") & table["gross"].notna()]
    if table.empty:
        raise CineSeqError("the weeks table has no gross: enter at least the opening week's gross")
    film = {"film_id": "new-film", "title": title.strip() or "New film", "release_date": release_date,
            "genres": "|".join(genres or []), "budget": budget, "mpaa": mpaa or ""}
    for column, value in film.items():
        table[column] = value
    table.to_csv(path, index=False)
    return Path(path)
