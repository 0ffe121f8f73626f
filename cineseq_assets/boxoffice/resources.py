"""The data sources as Dagster resources: each has an offline path and a real client.

Which one a run used is stated in its materialization metadata (``source``). Keys for live APIs
come from environment variables through Dagster's ``EnvVar``, never from code or logs.
"""


import datetime as dt
from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import PrivateAttr

from ..resources import ArtifactStore
from .bundled import bundled_trends, load_bundled
from .mojo import DailyChart, fetch_daily_chart
from .sources import BoxOfficeData, from_daily
from .weekly import best_market

OFFLINE_HINT = "Use the bundled dataset instead (the default kind: bundled)."


class BoxOfficeSource(dg.ConfigurableResource):
    """Where weekly box office comes from.

    ``bundled``: the real dataset shipped with CineSeq. ``user_file``: your own CSV or Parquet
    (docs/user_data.md). ``live_chart``: the Box Office Mojo daily charts fetched by the
    ``mojo_daily_chart`` asset into storage (``artifacts``: the storage root they are read from).
    """

    kind: Literal["bundled", "user_file", "live_chart"] = "bundled"
    user_file: str | None = None
    artifacts: ArtifactStore | None = None
    _data: BoxOfficeData | None = PrivateAttr(default=None)

    def load(self) -> BoxOfficeData:
        if self._data is None:
            self._data = self._load()
        return self._data

    def _load(self) -> BoxOfficeData:
        if self.kind == "bundled":
            return load_bundled()
        if self.kind == "user_file":
            from .userfile import load_user_file

            if not self.user_file:
                raise dg.Failure("box_office.kind is user_file but box_office.user_file is empty: "
                                 "set it to your CSV or Parquet file.")
            from .metadata import with_bundled_metadata

            data = load_user_file(self.user_file)
            # The market day by day from the file where it holds a whole daily chart, else from the bundled
            # chart (2000-2024); weeks where neither is whole get no market context. Metadata the file does
            # not give comes from the bundled The Numbers + TMDB tables, by title and year (as for catalog films).
            data.market = best_market(data.market, load_bundled().market)
            data.films = with_bundled_metadata(data.films)
            return data
        storage = (self.artifacts or ArtifactStore.default()).storage
        daily = storage.read_partitions("mojo_daily_chart")
        if daily.empty:
            raise dg.Failure("box_office.kind is live_chart but no mojo_daily_chart partition is materialized: "
                             "materialize the dates you need first (or use kind: bundled).")
        data = from_daily(daily, source="live_chart")
        # The fetched days are the whole chart; the bundled chart adds the past years that a week's
        # market coverage is measured against (features.MarketCalendar.coverage).
        data.market = best_market(data.market, load_bundled().market)
        return data


class MetadataSource(dg.ConfigurableResource):
    """Film metadata: the bundled tables (The Numbers + TMDB 5000), or the TMDB API."""

    kind: Literal["bundled", "tmdb_api"] = "bundled"
    tmdb_api_key: str | None = None
    timeout_s: float = 20.0

    def for_film(self, film: pd.Series) -> dict:
        """Metadata to lay over the film's row; {} keeps what the box-office source has."""
        if self.kind == "bundled":
            return {}
        from .connectors import TMDBClient

        if not self.tmdb_api_key:
            raise dg.Failure("metadata.kind is tmdb_api but TMDB_API_KEY is not set. " + OFFLINE_HINT)
        found = TMDBClient(self.tmdb_api_key, timeout=self.timeout_s).movie_metadata(film["title"], _year(film))
        if not found:
            return {}
        return {
            "genres": "|".join(found.get("genres") or []) or None,
            "runtime": found.get("runtime"),
            "budget": found.get("budget"),
            "tmdb_vote_average": found.get("vote_average"),
            "tmdb_vote_count": found.get("vote_count"),
            "tmdb_popularity": found.get("popularity"),
        }


class BuzzSource(dg.ConfigurableResource):
    """Pre-release buzz: bundled TrailerTrends, or live Google Trends (pytrends) + YouTube Data API."""

    kind: Literal["bundled", "live"] = "bundled"
    youtube_api_key: str | None = None

    def trends_for(self, film: pd.Series) -> pd.DataFrame | None:
        if self.kind == "bundled":
            return bundled_trends().get(film["film_id"])
        from .connectors import TrendsClient

        return TrendsClient().weekly_interest(film["title"], pd.Timestamp(film["release_date"]))

    def youtube_for(self, film: pd.Series) -> dict:
        if self.kind == "bundled":
            return {}
        from .connectors import YouTubeClient

        if not self.youtube_api_key:
            raise dg.Failure("buzz.kind is live but YOUTUBE_API_KEY is not set. Use buzz.kind: bundled.")
        stats = YouTubeClient(self.youtube_api_key).trailer_stats(film["title"], _year(film)) or {}
        return {"youtube_views": stats.get("views"), "youtube_likes": stats.get("likes")}


class BoxOfficeMojo(dg.ConfigurableResource):
    """The live Box Office Mojo daily chart."""

    base_url: str = "https://www.boxofficemojo.com"
    timeout_s: float = 30.0

    def fetch(self, date: dt.date) -> DailyChart:
        return fetch_daily_chart(date, base_url=self.base_url, timeout=self.timeout_s)


def _year(film: pd.Series) -> int | None:
    date = pd.Timestamp(film.get("release_date")) if pd.notna(film.get("release_date")) else None
    return date.year if date is not None else None
