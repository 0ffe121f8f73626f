"""Asset checks beside the box-office assets."""


import dagster as dg
import pandas as pd

from . import quality
from .assets import panel
from .features import FilmContext, MarketCalendar
from .panel import film_row, truncation_mismatches
from .resources import BoxOfficeSource, BuzzSource

TRUNCATION_SAMPLE = 8


def _result(offending: pd.DataFrame | list, what: str) -> dg.AssetCheckResult:
    count = len(offending)
    sample = offending.head(10).to_dict("records") if isinstance(offending, pd.DataFrame) else offending[:10]
    return dg.AssetCheckResult(
        passed=count == 0,
        metadata={"offending": count, "sample": dg.MetadataValue.json(sample)},
        description=f"{count} {what}" if count else None,
    )


@dg.asset_check(asset=panel, description="Required columns with the right types.")
def panel_schema(panel: pd.DataFrame) -> dg.AssetCheckResult:
    return _result(quality.schema_problems(panel), "schema problems")


@dg.asset_check(asset=panel, description="Weekly gross is never negative or missing.")
def panel_gross_non_negative(panel: pd.DataFrame) -> dg.AssetCheckResult:
    return _result(quality.negative_gross(panel), "rows with negative or missing gross")


@dg.asset_check(asset=panel, description="One row per (film, week).")
def panel_unique_film_week(panel: pd.DataFrame) -> dg.AssetCheckResult:
    return _result(quality.duplicate_film_weeks(panel), "duplicated (film, week) rows")


@dg.asset_check(asset=panel, description="Each film's weeks are 1..n with no gap.")
def panel_weeks_contiguous(panel: pd.DataFrame) -> dg.AssetCheckResult:
    return _result(quality.non_contiguous_films(panel), "films with gaps in their weeks")


@dg.asset_check(asset=panel, description="Cumulative gross equals the running sum of weekly gross.")
def panel_cumulative_consistent(panel: pd.DataFrame) -> dg.AssetCheckResult:
    return _result(quality.cumulative_mismatches(panel), "rows whose cumulative gross is off")


@dg.asset_check(asset=panel, description=f"Leakage: rows of {TRUNCATION_SAMPLE} sampled films are identical when recomputed "
                "from data cut at the end of each week.")
def panel_truncation_invariance(panel: pd.DataFrame, box_office: BoxOfficeSource, buzz: BuzzSource) -> dg.AssetCheckResult:
    data = box_office.load()
    market = MarketCalendar(data.market) if len(data.market) else None
    films = pd.Series(panel["film_id"].unique())
    sample = films.sample(min(TRUNCATION_SAMPLE, len(films)), random_state=0) if len(films) else films
    problems = []
    for film_id in sample:
        film = film_row(data, film_id)
        trends = buzz.trends_for(film) if buzz.kind == "bundled" else None
        ctx = FilmContext(film=film, market=market, trends=trends)
        problems += [f"{film_id} {p}" for p in truncation_mismatches(data.film_weeks(film_id), ctx)]
    result = _result(problems, "weeks differ when recomputed from truncated data")
    return dg.AssetCheckResult(passed=result.passed, metadata={**result.metadata, "films_checked": dg.MetadataValue.json(list(sample))},
                               description=result.description)
