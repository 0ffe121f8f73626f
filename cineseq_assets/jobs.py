"""Jobs: registering the catalog's films as partitions."""


import dagster as dg

from .boxoffice.catalog import films_to_register
from .partitions import films_partitions
from .storage import read_asset


def register_new_films(instance: dg.DagsterInstance) -> list[str]:
    """Add a partition for every film of the stored catalog that has none yet; returns the new ids."""
    catalog = read_asset("film_catalog")
    new = films_to_register(catalog, instance.get_dynamic_partitions(films_partitions.name))
    if new:
        instance.add_dynamic_partitions(films_partitions.name, new)
    return new


@dg.op(description="Register every film of the materialized film_catalog as a partition of the per-film assets.")
def register_films(context: dg.OpExecutionContext) -> None:
    new = register_new_films(context.instance)
    context.log.info(f"registered {len(new)} new film partitions")


@dg.job(description="Register the films of the materialized catalog as partitions (a new film is a new partition).")
def register_films_job():
    register_films()
