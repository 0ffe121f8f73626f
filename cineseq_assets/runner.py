"""Materializing the default graph from Python (what ``cineseq run`` does), on the project instance.

Order: the catalog; its films registered as partitions; the per-film assets in runs of contiguous
partition ranges (the catalog lists the showcase first, so it is one range); the aggregates with
their checks; with ``frames``, the frame classifier and every film's representative frames and
frame predictions (offered to the forecaster); then, unless asked not to, the forecaster: windows,
the trained models, every film's forecasts and the attributions. Every run is an ordinary Dagster run, visible in the UI afterwards.
"""

import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Callable

import dagster as dg

from .definitions import defs
from .jobs import register_new_films
from .partitions import FILMS_PER_RUN, films_partitions
from .storage import read_asset

PER_FILM_ASSETS = ["weekly_panel", "decay_fit"]
AGGREGATE_ASSETS = ["panel", "decay_diagnostics"]
MODEL_ASSETS = ["training_windows", "forecast_model"]
PER_FILM_FORECAST_ASSETS = ["forecasts"]
AFTER_FORECAST_ASSETS = ["attributions"]
FRAME_MODEL_ASSETS = ["frame_classifier"]
PER_FILM_FRAME_ASSETS = ["representative_frames", "frame_predictions"]
MIN_FORECAST_FILMS = 20  # fewer films cannot fill the train, validation and test splits
MAX_WORKERS = 2
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def select_films(spec: str, catalog) -> list[str]:
    """``all``, ``showcase`` or comma-separated ids (unknown ids are an error naming them)."""
    if spec == "all":
        return list(catalog["film_id"])
    if spec == "showcase":
        return list(catalog.loc[catalog["showcase"], "film_id"])
    wanted = [film.strip() for film in spec.split(",") if film.strip()]
    unknown = sorted(set(wanted) - set(catalog["film_id"]))
    if unknown:
        raise SystemExit(f"not in the catalog: {', '.join(unknown)}. List the films with `cineseq films`.")
    return wanted


def contiguous_ranges(selected: list[str], order: list[str], max_size: int) -> list[tuple[str, str]]:
    """Split the selected keys into (first, last) ranges of consecutive keys in partition order."""
    position = {key: i for i, key in enumerate(order)}
    ranges, current = [], []
    for key in sorted(selected, key=position.__getitem__):
        if current and (position[key] != position[current[-1]] + 1 or len(current) == max_size):
            ranges.append((current[0], current[-1]))
            current = []
        current.append(key)
    if current:
        ranges.append((current[0], current[-1]))
    return ranges


def _materialize(selection: list[str], instance: dg.DagsterInstance, tags: dict | None = None) -> bool:
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey(name) for name in selection], tags=tags or {},
        run_config=QUIET, raise_on_error=False,
    )
    return result.success


def run_default_graph(films: str = "all", log: Callable[[str], None] = print, forecast: bool = True,
                      frames: bool = False) -> bool:
    instance = dg.DagsterInstance.get()
    steps = (7 if forecast else 4) + (1 if frames else 0)
    log(f"1/{steps} film_catalog")
    if not _materialize(["film_catalog"], instance):
        return False
    catalog = read_asset("film_catalog")
    new = register_new_films(instance, catalog)
    selected = select_films(films, catalog)
    log(f"2/{steps} registered {len(new)} new film partitions; {len(selected)} films selected")
    order = instance.get_dynamic_partitions(films_partitions.name)
    workers = max(1, min(os.cpu_count() or 1, MAX_WORKERS))
    ranges = contiguous_ranges(selected, order, _run_size(len(selected), workers))
    log(f"3/{steps} weekly_panel + decay_fit: {len(ranges)} run(s), {workers} at a time")
    ok = _run_film_ranges(ranges, workers, log, PER_FILM_ASSETS)
    log(f"4/{steps} panel + decay_diagnostics (and their checks)")
    ok = _materialize(AGGREGATE_ASSETS, instance) and ok
    if frames and ok:
        log(f"5/{steps} frame_classifier (training: several minutes), then representative_frames + frame_predictions")
        ok = _materialize(FRAME_MODEL_ASSETS, instance) and _run_film_ranges(ranges, workers, log, PER_FILM_FRAME_ASSETS)
    first = 6 if frames else 5
    if not (forecast and ok):
        return ok
    films_in_panel = read_asset("panel")["film_id"].nunique()
    if films_in_panel < MIN_FORECAST_FILMS:
        log(f"{first}/{steps} forecaster skipped: the panel holds {films_in_panel} films, training needs at least "
            f"{MIN_FORECAST_FILMS} (train, validation and test films); run more films, e.g. --films showcase or all")
        return ok
    log(f"{first}/{steps} training_windows + forecast_model (training: a few minutes)")
    if not _materialize(MODEL_ASSETS, instance):
        return False
    log(f"{first + 1}/{steps} forecasts: {len(ranges)} run(s)")
    ok = _run_film_ranges(ranges, workers, log, PER_FILM_FORECAST_ASSETS)
    log(f"{first + 2}/{steps} attributions (Integrated Gradients)")
    return _materialize(AFTER_FORECAST_ASSETS, instance) and ok


def _run_size(films: int, workers: int) -> int:
    """Films per run: at most FILMS_PER_RUN, and a number of runs that keeps every worker busy."""
    runs = -(-films // FILMS_PER_RUN)
    runs = -(-runs // workers) * workers
    return max(1, -(-films // runs))


def _materialize_film_range(film_range: tuple[str, str], assets: list[str]) -> bool:
    """One run of per-film assets over a partition range (in a worker process)."""
    first, last = film_range
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return _materialize(assets, dg.DagsterInstance.get(), tags)


def _run_film_ranges(ranges: list[tuple[str, str]], workers: int, log: Callable[[str], None],
                     assets: list[str]) -> bool:
    """Runs over disjoint film ranges are independent: on two cores, two at a time halve the wait."""
    if workers == 1 or len(ranges) == 1:
        return all([_materialize_film_range(r, assets) for r in ranges])
    # Workers start fresh: silence Dagster's beta notice about backfill_policy there too, as the CLI
    # does, before they import the definitions (hence a stdlib initializer, not one of ours).
    quiet = ("ignore", ".*is currently in beta.*")
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=warnings.filterwarnings,
                             initargs=quiet) as pool:
        results = list(pool.map(_materialize_film_range, ranges, [assets] * len(ranges)))
    for (first, last), ok in zip(ranges, results):
        log(f"    films {first} .. {last}: {'ok' if ok else 'FAILED'}")
    return all(results)
