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


# (check name, what it guarantees, the rule returning offending rows, how to count them)
PANEL_RULES = [
    ("panel_schema", "Required columns with the right types.", quality.schema_problems, "schema problems"),
    ("panel_gross_non_negative", "Weekly gross is never negative or missing.", quality.negative_gross,
     "rows with negative or missing gross"),
    ("panel_unique_film_week", "One row per (film, week).", quality.duplicate_film_weeks, "duplicated (film, week) rows"),
    ("panel_weeks_contiguous", "Each film's weeks are 1..n with no gap.", quality.non_contiguous_films,
     "films with gaps in their weeks"),
    ("panel_cumulative_consistent", "Cumulative gross equals the running sum of weekly gross.",
     quality.cumulative_mismatches, "rows whose cumulative gross is off"),
]


def _rule_check(name: str, description: str, rule, what: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=panel, name=name, description=description)
    def check(panel: pd.DataFrame) -> dg.AssetCheckResult:
        return _result(rule(panel), what)

    return check


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
    metadata = {**result.metadata, "films_checked": dg.MetadataValue.json(list(sample))}
    return dg.AssetCheckResult(passed=result.passed, metadata=metadata, description=result.description)


CHECKS = [*(_rule_check(*rule) for rule in PANEL_RULES), panel_truncation_invariance]
