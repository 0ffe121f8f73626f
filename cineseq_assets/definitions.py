"""The one Definitions object of the CineSeq code location."""

from __future__ import annotations

import os

import dagster as dg

from .boxoffice import assets as boxoffice_assets
from .boxoffice import checks as boxoffice_checks
from .boxoffice.resources import BoxOfficeMojo, BoxOfficeSource, BuzzSource, MetadataSource
from .decay import assets as decay_assets
from .decay import checks as decay_checks
from .forecast import assets as forecast_assets
from .frames import assets as frame_assets
from .io_manager import ParquetIOManager
from .jobs import register_films_job
from .sensors import film_registration_sensor
from .settings import storage_dir
from .trailers import assets as trailer_assets


def default_resources() -> dict:
    """Sources default to the bundled data; environment variables switch to a user's file or live APIs."""
    metadata_kind = os.environ.get("CINESEQ_METADATA_SOURCE", "bundled")
    buzz_kind = os.environ.get("CINESEQ_BUZZ_SOURCE", "bundled")
    return {
        "io_manager": ParquetIOManager(base_dir=str(storage_dir())),
        "box_office": BoxOfficeSource(
            kind=os.environ.get("CINESEQ_BOX_OFFICE_SOURCE", "bundled"),
            user_file=os.environ.get("CINESEQ_USER_FILE"),
        ),
        "metadata": MetadataSource(kind=metadata_kind, tmdb_api_key=dg.EnvVar("TMDB_API_KEY") if metadata_kind != "bundled" else None),
        "buzz": BuzzSource(kind=buzz_kind, youtube_api_key=dg.EnvVar("YOUTUBE_API_KEY") if buzz_kind != "bundled" else None),
        "mojo": BoxOfficeMojo(),
        "trailers": trailer_assets.default_trailer_source(),
    }


def build_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([boxoffice_assets, decay_assets, trailer_assets, frame_assets, forecast_assets]),
        asset_checks=[*boxoffice_checks.CHECKS, *decay_checks.CHECKS],
        jobs=[register_films_job],
        sensors=[film_registration_sensor],
        resources=default_resources(),
    )


defs = build_definitions()
