"""Sensors: a new film in the catalog becomes a new partition without a code change."""


import dagster as dg

from .boxoffice.catalog import films_to_register
from .partitions import films_partitions

FILM_CATALOG = dg.AssetKey("film_catalog")


@dg.asset_sensor(asset_key=FILM_CATALOG, default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30)
def film_registration_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry) -> dg.SensorResult:
    """After each film_catalog materialization, registers the films that have no partition yet."""
    # Loaded by film_catalog's own IO manager: the sensor reads where the asset was written.
    catalog = context.repository_def.load_asset_value(FILM_CATALOG, instance=context.instance)
    new = films_to_register(catalog, context.instance.get_dynamic_partitions(films_partitions.name))
    if not new:
        return dg.SensorResult(skip_reason="every catalog film already has a partition")
    context.log.info(f"registering {len(new)} new films")
    return dg.SensorResult(dynamic_partitions_requests=[films_partitions.build_add_request(new)])
