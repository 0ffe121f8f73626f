"""Box-office assets: live chart ingest, the film catalog, the weekly panel per film, the pooled panel."""

from functools import partial

import dagster as dg
import pandas as pd

from ..errors import CineSeqError, FilmDataError
from ..io_manager import StoredFilms, stored_films
from ..partitions import chart_days, film_backfill_policy, films_partitions, materialize_films
from ..resources import DaskResource
from ..versions import table_version
from .bundled import build_report
from .catalog import catalog_table, match_rate_table
from .features import MarketCalendar
from .panel import film_panel_with_extras, film_row, pooled_panel
from .resources import BoxOfficeMojo, BoxOfficeSource, BuzzSource, MetadataSource
from .sources import BoxOfficeData

GROUP = "boxoffice"


@dg.asset(group_name=GROUP, partitions_def=chart_days, output_required=False, kinds={"parquet"})
def mojo_daily_chart(context: dg.AssetExecutionContext, mojo: BoxOfficeMojo):
    """One day of the live Box Office Mojo domestic chart, parsed into daily rows.

    A date without a chart (theaters closed in March 2020, say) materializes nothing and says so.
    """
    chart = mojo.fetch(pd.Timestamp(context.partition_key).date())
    if chart.status == "no_chart":
        context.log.warning(chart.note)
        return
    yield dg.Output(chart.rows, metadata={"source": "live Box Office Mojo", "films": len(chart.rows)})


@dg.asset(group_name=GROUP, deps=[mojo_daily_chart], kinds={"parquet"})
def film_catalog(context: dg.AssetExecutionContext, box_office: BoxOfficeSource) -> dg.Output[pd.DataFrame]:
    """Every film the source can build a panel for: the default catalog, the showcase flagged.

    Films whose data fail validation are listed in the metadata with the reason and left out, so
    a backfill of every registered film never trips on them.
    """
    data = box_office.load()
    catalog = catalog_table(data)
    metadata = {
        "source": data.source,
        "films": len(catalog),
        "showcase_films": int(catalog["showcase"].sum()),
        "rejected_films": dg.MetadataValue.json(data.rejected),
    }
    if data.source == "bundled":
        metadata["join_match_rates"] = dg.MetadataValue.md(match_rate_table(build_report()["joins"]))
    context.log.info(f"{len(catalog)} films from {data.source}; {len(data.rejected)} rejected")
    # Its sources are outside Dagster: the content says whether the per-film assets must be recomputed.
    return dg.Output(catalog, metadata=metadata, data_version=dg.DataVersion(table_version(catalog)))


@dg.asset(
    group_name=GROUP,
    partitions_def=films_partitions,
    backfill_policy=film_backfill_policy,
    deps=[film_catalog],
    kinds={"parquet"},
)
def weekly_panel(
    context: dg.AssetExecutionContext, box_office: BoxOfficeSource, metadata: MetadataSource, buzz: BuzzSource,
    dask: DaskResource,
) -> dg.Output[StoredFilms]:
    """One row per usable week of the film: log1p target, calendar, market, metadata and buzz features."""
    data = box_office.load()
    market = MarketCalendar(data.market) if len(data.market) else None
    # The sources are resources (the live ones call APIs with their keys): asked here; the panels on the workers.
    extras = {film: _film_extras(data, film, metadata, buzz) for film in context.partition_keys}
    stored = materialize_films(context, partial(film_panel_with_extras, data, market, extras), dask)
    return dg.Output(stored, metadata={
        "source": f"box office: {data.source}; metadata: {metadata.kind}; buzz: {buzz.kind}",
        "films": len(stored.paths),
    })


def _film_extras(data: BoxOfficeData, film_id: str, metadata: MetadataSource, buzz: BuzzSource) -> tuple | str:
    """(trends, metadata) of a film from the sources; nothing for a film the box-office source lacks (its
    task fails it, naming the film); the message when a live source fails for the film (its task fails
    with it: one film's unreachable source does not stop the others)."""
    try:
        film = film_row(data, film_id)
    except FilmDataError:
        return None, None
    try:
        return buzz.trends_for(film), metadata.for_film(film) | buzz.youtube_for(film)
    except CineSeqError as error:
        return str(error)


@dg.asset(group_name=GROUP, ins={"weekly_panel": stored_films("weekly_panel", every_film=True)}, kinds={"parquet"})
def panel(context: dg.AssetExecutionContext, weekly_panel: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    """Every film's weekly panel in one table for training, with the schema version. Its data version is
    its content: Dagster does not follow an aggregate's edges to more than 100 film partitions, so
    without it a panel of other films (the showcase, then every film) would leave the forecaster fresh."""
    pooled = pooled_panel([weekly_panel])
    return dg.Output(pooled, data_version=dg.DataVersion(table_version(pooled)), metadata={
        "films": pooled["film_id"].nunique(),
        "schema_version": pooled["schema_version"].iloc[0] if len(pooled) else "",
    })
