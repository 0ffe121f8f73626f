"""Sensors: a new film in the catalog becomes a new partition without a code change."""


import dagster as dg

from .boxoffice.assets import film_catalog
from .boxoffice.catalog import films_to_register
from .partitions import films_partitions
from .storage import read_asset


@dg.asset_sensor(asset_key=film_catalog.key, default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30)
def film_registration_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry) -> dg.SensorResult:
    """After each film_catalog materialization, registers the films that have no partition yet."""
    catalog = read_asset("film_catalog")
    new = films_to_register(catalog, context.instance.get_dynamic_partitions(films_partitions.name))
    if not new:
        return dg.SensorResult(skip_reason="every catalog film already has a partition")
    context.log.info(f"registering {len(new)} new films")
    return dg.SensorResult(dynamic_partitions_requests=[films_partitions.build_add_request(new)])
