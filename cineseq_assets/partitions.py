"""Partitions: one per film (dynamic, registered from the catalog) and one per chart day.

Per-film assets run over many films in one run (a single-run backfill: ``context.partition_keys``),
and the asset body fans the films out on Dask (dask_engine.py), as Dagster advises for work inside
one step; each film's result comes back here and is written through the asset's IO manager as soon
as it arrives, so that this process writes while the workers compute the next films. Dagster records
one materialization per partition for the whole range when a run succeeds, and cannot mark part of a
range as failed (dagster#17836). So when some films fail, ``materialize_films`` records a
materialization for each good film itself and then fails the run naming the bad films: only their
partitions show as failed, and nothing stored is lost (a film's file is replaced only by its new result).
"""


from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import dagster as dg
import pandas as pd

from .dask_engine import failure_listing, fan_out
from .errors import FilmDataError
from .io_manager import ParquetIOManager, StoredFilms
from .resources import DaskResource
from .storage import parquet_bytes, remove_stale_temporaries

films_partitions = dg.DynamicPartitionsDefinition(name="films")
chart_days = dg.DailyPartitionsDefinition(start_date="2000-01-01", end_offset=0)

# A backfill of a film range runs as one run (Dagster's CLI also needs this for --partition-range).
# `cineseq run` splits the catalog itself into runs of at most FILMS_PER_RUN films, one after the other:
# the films of a run are spread over the Dask workers, and the run's results are held until it ends.
film_backfill_policy = dg.BackfillPolicy.single_run()
FILMS_PER_RUN = 1000


def materialize_films(context: dg.AssetExecutionContext, compute: Callable[[str], object], dask: DaskResource | None = None,
                      keep: Callable[[str, object], pd.DataFrame] | None = None, batch_size: int | None = None) -> StoredFilms:
    """``compute(film_id)`` for every film partition of this run, on the cluster of ``dask`` (in this
    process when None: ``compute`` may then hold the context), each film's table written as it arrives.
    ``compute`` returns the film's table, which the worker encodes as Parquet, so that this process only
    writes bytes (receiving and writing tables here cost more than the workers' computing); or, with
    ``keep``, anything that ``keep(film, result)`` turns into the table here (and writes its side files).
    ``batch_size`` overrides the resource's films per task (see ``dask_engine.fan_out``). The asset
    returns what this returns; see the module docstring."""
    films = list(context.partition_keys)
    name, asset = context.asset_key.to_user_string(), context.asset_key.path[-1]
    io_manager = _io_manager(context)
    remove_stale_temporaries(io_manager.storage.folder(asset))
    kept: dict[str, pd.DataFrame | bytes] = {}
    paths: dict[str, Path] = {}

    def receive(film: str, result: object) -> None:
        kept[film] = keep(film, result) if keep else result
        paths[film] = io_manager.write_partition(asset, film, kept[film])

    batch_size = batch_size or (dask.batch_size if dask else 1)
    with dask.client(context.log.info) if dask else nullcontext(None) as client:
        errors = fan_out(client, compute, films, label=name, batch_size=batch_size,
                         retries=dask.retries if dask else 0, report=context.log.info, on_result=receive,
                         on_failure=lambda film, message: context.log.error(f"{name}[{film}] failed: {message}"),
                         finish=None if keep else parquet_bytes)
    good = [film for film in films if film in kept]  # in partition order, whatever order they came in
    stored = StoredFilms({film: paths[film] for film in good}, kept)
    if errors:
        _record_good_films(context, stored)
        raise dg.Failure(
            description=f"{len(errors)} of {len(films)} films failed; the other {len(good)} were materialized.\n"
                        f"{failure_listing(errors)}",
            metadata={"failed_films": dg.MetadataValue.json(errors)},
        )
    return stored


def films_of(table: pd.DataFrame, asset: str) -> Callable[[str], pd.DataFrame]:
    """``rows(film_id)``: that film's rows of a loaded per-film input; a film whose ``asset`` partition
    was never stored fails alone (inside ``materialize_films``), naming what to materialize."""
    by_film = dict(tuple(table.groupby("film_id", sort=False))) if len(table) else {}

    def rows(film_id: str) -> pd.DataFrame:
        if film_id not in by_film:
            raise FilmDataError(film_id, f"has no stored {asset} partition", fix=f"Materialize {asset} for this film first.")
        return by_film[film_id].reset_index(drop=True)

    return rows


def _io_manager(context: dg.AssetExecutionContext) -> ParquetIOManager:
    return getattr(context.resources, context.assets_def.get_io_manager_key_for_asset_key(context.asset_key))


def _record_good_films(context: dg.AssetExecutionContext, stored: StoredFilms) -> None:
    """What a successful run records, for the films that are already written."""
    for film, path in stored.paths.items():
        one = StoredFilms({film: path}, stored.parts)
        context.log_event(dg.AssetMaterialization(asset_key=context.asset_key, partition=film, metadata=one.metadata()))
