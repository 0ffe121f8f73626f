"""Jobs: registering the catalog's films as partitions."""


import dagster as dg
import pandas as pd

from .boxoffice.catalog import films_to_register
from .partitions import films_partitions
from .resources import ArtifactStore


def register_new_films(instance: dg.DagsterInstance, catalog: pd.DataFrame) -> list[str]:
    """Add a partition for every film of ``catalog`` (the materialized film_catalog) that has none yet;
    returns the new ids."""
    new = films_to_register(catalog, instance.get_dynamic_partitions(films_partitions.name))
    if new:
        instance.add_dynamic_partitions(films_partitions.name, new)
    return new


@dg.op(description="Register every film of the materialized film_catalog as a partition of the per-film assets.")
def register_films(context: dg.OpExecutionContext, artifacts: ArtifactStore) -> None:
    # An op of a plain job has no asset inputs: the catalog is read under the configured storage root.
    new = register_new_films(context.instance, artifacts.storage.read("film_catalog"))
    context.log.info(f"registered {len(new)} new film partitions")


@dg.job(description="Register the films of the materialized catalog as partitions (a new film is a new partition).")
def register_films_job():
    register_films()
