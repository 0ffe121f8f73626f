"""Decay assets: a log-linear fit per film, and diagnostics for the whole set with plots."""


import dagster as dg
import pandas as pd

from ..io_manager import StoredFilms, image_metadata, stored_films
from ..partitions import film_backfill_policy, films_of, films_partitions, materialize_films
from ..resources import ArtifactStore, DaskResource
from .diagnostics import group_summary, pooled_fixed_effects, share_well_explained
from .fits import fit_film_decay
from .plots import film_fit_plot, half_life_by_genre, r2_by_width, r2_histogram

GROUP = "decay"
EXAMPLE_FILM_TITLE = "Inception"


@dg.asset(
    group_name=GROUP,
    partitions_def=films_partitions,
    backfill_policy=film_backfill_policy,
    ins={"weekly_panel": stored_films("weekly_panel")},
    kinds={"parquet", "statsmodels"},
)
def decay_fit(context: dg.AssetExecutionContext, weekly_panel: pd.DataFrame, dask: DaskResource) -> dg.Output[StoredFilms]:
    """OLS of log weekly gross on week over the usable run and weeks 1-8: rate, half-life, R²,
    ADF tests, residual ACF/PACF with confidence bounds (one row per window)."""
    weeks = films_of(weekly_panel, "weekly_panel")
    stored = materialize_films(context, lambda film_id: fit_film_decay(weeks(film_id), film_id), dask)
    fits = stored.columns(["window", "r2", "half_life_weeks"])  # decoding only what the summary needs
    run = fits[fits["window"] == "run"]
    return dg.Output(stored, metadata={
        "films": len(run),
        "median_r2_run": float(run["r2"].median()),
        "median_half_life_weeks": float(run["half_life_weeks"].median()),
    })


@dg.asset(
    group_name=GROUP,
    ins={"decay_fit": stored_films("decay_fit", every_film=True), "panel": dg.AssetIn("panel"),
         "film_catalog": dg.AssetIn("film_catalog")},
    kinds={"parquet", "statsmodels"},
)
def decay_diagnostics(context: dg.AssetExecutionContext, decay_fit: pd.DataFrame, panel: pd.DataFrame,
                      film_catalog: pd.DataFrame, artifacts: ArtifactStore) -> dg.Output[pd.DataFrame]:
    """R² and half-life by release width, genre and year; pooled fixed-effects decay; plots."""
    films = films_table(panel, film_catalog)
    summary = group_summary(decay_fit, films)
    fixed_effects = pooled_fixed_effects(panel)
    folder = artifacts.folder("decay_diagnostics")
    artifacts.write_table(fixed_effects, "decay_diagnostics", "pooled_fixed_effects.parquet")
    plots = _plots(decay_fit, panel, films)
    for name, png in plots.items():
        artifacts.write_bytes(png, "decay_diagnostics", f"{name}.png")
    showcase_fits = decay_fit[decay_fit["film_id"].isin(films.loc[films["showcase"], "film_id"])]
    metadata = {
        "films": int(decay_fit["film_id"].nunique()),
        "share_r2_ge_0_9_run": share_well_explained(decay_fit, "run"),
        "share_r2_ge_0_9_weeks_1_8": share_well_explained(decay_fit, "weeks_1_8"),
        "share_r2_ge_0_9_weeks_1_8_showcase":
            share_well_explained(showcase_fits, "weeks_1_8") if len(showcase_fits) else float("nan"),
        "pooled_fixed_effects": dg.MetadataValue.md(fixed_effects.to_markdown(index=False, floatfmt=".3f")),
        "plots_folder": dg.MetadataValue.path(str(folder)),
    }
    metadata |= {f"plot_{name}": image_metadata(name, png) for name, png in plots.items()}
    return dg.Output(summary, metadata=metadata)


def films_table(panel: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """One row per film of the panel with the static columns the summaries group by."""
    static = panel.drop_duplicates("film_id")[["film_id", "title", "genres", "release_year", "release_width"]]
    showcase = catalog.set_index("film_id")["showcase"]
    return static.assign(showcase=static["film_id"].map(showcase).fillna(False).astype(bool))


def _plots(fits: pd.DataFrame, panel: pd.DataFrame, films: pd.DataFrame) -> dict[str, bytes]:
    example = films.loc[films["title"] == EXAMPLE_FILM_TITLE, "film_id"]
    example_id = example.iloc[0] if len(example) else films["film_id"].iloc[0]
    example_fit = fits[(fits["film_id"] == example_id) & (fits["window"] == "run")].iloc[0]
    example_title = films.set_index("film_id").loc[example_id, "title"]
    return {
        "r2_histogram": r2_histogram(fits, "run"),
        "r2_by_width": r2_by_width(fits, films),
        "half_life_by_genre": half_life_by_genre(fits, films),
        "example_film_fit": film_fit_plot(panel[panel["film_id"] == example_id], example_fit, example_title),
    }
