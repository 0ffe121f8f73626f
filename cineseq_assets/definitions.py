"""The one Definitions object of the CineSeq code location."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from .boxoffice import assets as boxoffice_assets
from .boxoffice import checks as boxoffice_checks
from .boxoffice.resources import BoxOfficeMojo, BoxOfficeSource, BuzzSource, MetadataSource
from .decay import assets as decay_assets
from .decay import checks as decay_checks
from .forecast import assets as forecast_assets
from .forecast import checks as forecast_checks
from .frames import assets as frame_assets
from .frames import checks as frame_checks
from .io_manager import ParquetIOManager
from .jobs import STAGE_JOBS, register_films_job
from .resources import ArtifactStore, DaskResource, TrailerSource
from .sensors import film_registration_sensor
from .storage import Storage
from .trailers import assets as trailer_assets
from .trailers import checks as trailer_checks
from .versions import code_version


def default_resources(storage_dir: str | Path | None = None, dask: DaskResource | None = None) -> dict:
    """Sources default to the bundled data; environment variables switch to a user's file or live APIs.

    ``storage_dir`` is the one storage root (default: ``Storage.default()``): the IO manager's tables and
    the artifact store's side files live under it. ``dask`` is where per-film work runs (default: from
    the environment, else a LocalCluster per step).
    """
    root = str(storage_dir if storage_dir is not None else Storage.default().root)
    artifacts = ArtifactStore(base_dir=root)
    metadata_kind = os.environ.get("CINESEQ_METADATA_SOURCE", "bundled")
    buzz_kind = os.environ.get("CINESEQ_BUZZ_SOURCE", "bundled")
    return {
        "io_manager": ParquetIOManager(base_dir=root),
        "artifacts": artifacts,
        "box_office": BoxOfficeSource(
            kind=os.environ.get("CINESEQ_BOX_OFFICE_SOURCE", "bundled"),
            user_file=os.environ.get("CINESEQ_USER_FILE"),
            artifacts=artifacts,
        ),
        "metadata": MetadataSource(kind=metadata_kind,
                                   tmdb_api_key=dg.EnvVar("TMDB_API_KEY") if metadata_kind != "bundled" else None),
        "buzz": BuzzSource(kind=buzz_kind, youtube_api_key=dg.EnvVar("YOUTUBE_API_KEY") if buzz_kind != "bundled" else None),
        "mojo": BoxOfficeMojo(),
        "trailers": TrailerSource.from_environment(),
        "dask": dask or DaskResource.from_environment(),
    }


ASSET_MODULES = [boxoffice_assets, decay_assets, trailer_assets, frame_assets, forecast_assets]


def versioned(assets: list[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """Each asset with the code version of the module that defines it (see versions.py): a change
    to the code it runs marks its materializations stale, and `cineseq run` recomputes them."""
    def with_version(asset: dg.AssetsDefinition) -> dg.AssetsDefinition:
        if not isinstance(asset, dg.AssetsDefinition) or not asset.is_executable:
            return asset  # nothing that Dagster computes, nothing to version
        version = code_version(asset.op.compute_fn.decorated_fn.__module__)
        return asset.map_asset_specs(lambda spec: spec.replace_attributes(code_version=version))

    return [with_version(asset) for asset in assets]


def build_definitions(storage_dir: str | Path | None = None, dask: DaskResource | None = None) -> dg.Definitions:
    """The code location; ``storage_dir`` moves its storage root (tests give a temporary folder), ``dask``
    chooses where per-film work runs."""
    return dg.Definitions(
        assets=versioned(dg.load_assets_from_modules(ASSET_MODULES)),
        asset_checks=[*boxoffice_checks.CHECKS, *decay_checks.CHECKS, *forecast_checks.CHECKS, *frame_checks.CHECKS,
                      *trailer_checks.CHECKS],
        jobs=[register_films_job, *STAGE_JOBS],
        sensors=[film_registration_sensor],
        resources=default_resources(storage_dir, dask),
    )


defs = build_definitions()
