"""Partitions: one per film (dynamic, registered from the catalog) and one per chart day.

Per-film assets run over many films in one run (a backfill of every film is a handful of runs).
Dagster records one materialization per partition for the whole range when a run succeeds, and
cannot mark part of a range as failed (dagster#17836). So ``materialize_films`` computes each film
alone: when every film succeeds it returns one table for the IO manager; when some fail, it writes
the good films itself, records a materialization for each of them, and then fails the run naming
the bad films, so that only their partitions show as failed and nothing stored is lost.
"""


from typing import Callable

import dagster as dg
import pandas as pd

from .errors import CineSeqError
from .io_manager import table_metadata
from .storage import asset_path, write_parquet_atomic

films_partitions = dg.DynamicPartitionsDefinition(name="films")
chart_days = dg.DailyPartitionsDefinition(start_date="2000-01-01", end_offset=0)

# A backfill of a film range runs as one run (Dagster's CLI also needs this for --partition-range).
# `cineseq run` splits the catalog itself into runs of at most FILMS_PER_RUN films, two at a time.
film_backfill_policy = dg.BackfillPolicy.single_run()
FILMS_PER_RUN = 1000

PROGRESS_EVERY = 250


def materialize_films(
    context: dg.AssetExecutionContext, compute: Callable[[str], pd.DataFrame]
) -> pd.DataFrame:
    """Run ``compute(film_id)`` for every film partition of this run (see module docstring)."""
    films = list(context.partition_keys)
    frames: dict[str, pd.DataFrame] = {}
    errors: dict[str, str] = {}
    for done, film in enumerate(films, start=1):
        try:
            frames[film] = compute(film)
        except (CineSeqError, FileNotFoundError) as error:
            errors[film] = str(error)
            context.log.error(f"{context.asset_key.to_user_string()}[{film}] failed: {error}")
        if done % PROGRESS_EVERY == 0 or done == len(films):
            context.log.info(f"{context.asset_key.to_user_string()}: {done}/{len(films)} films, {len(errors)} failed")
    if errors:
        _record_good_films(context, frames)
        listing = "\n".join(f"- {film}: {message}" for film, message in list(errors.items())[:20])
        raise dg.Failure(
            description=f"{len(errors)} of {len(films)} films failed; the other {len(frames)} were materialized.\n{listing}",
            metadata={"failed_films": dg.MetadataValue.json(errors)},
        )
    return pd.concat(frames.values(), ignore_index=True)


def _record_good_films(context: dg.AssetExecutionContext, frames: dict[str, pd.DataFrame]) -> None:
    name = context.asset_key.path[-1]
    for film, frame in frames.items():
        path = write_parquet_atomic(frame, asset_path(name, film))
        context.log_event(dg.AssetMaterialization(asset_key=context.asset_key, partition=film, metadata=table_metadata(frame, path)))
