"""Time and peak memory of materializing panel + decay for the whole default catalog.

    python benchmarks/materialize.py [--films all|showcase] [--repeat 3] [--forecast]

Each repetition runs `cineseq run --no-forecast` (with ``--forecast``: the graph through the forecaster,
training and attributions included; the optional parts are left out, ``OPTIONAL_PARTS_OFF``) in a
fresh process on an empty storage folder and Dagster home,
so it measures what a user's first run costs. It also times the same science without Dagster
(panel features and decay fits for every film, in one process) to show what orchestration adds.
Prints a table; the target on 2 cores is under 3 minutes and 2 GB.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The default graph's optional parts, left out so that the figures stay those of the catalog's stages: the
# student and the frame classifier do not depend on the catalog, the evaluation is benchmarks/forecast.py's.
OPTIONAL_PARTS_OFF = ["--no-student", "--no-frames", "--no-evaluation"]


def run_through_dagster(films: str, forecast: bool = False) -> tuple[float, float]:
    """Wall seconds and peak resident memory (GB, largest process) of one `cineseq run`."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "CINESEQ_STORAGE": f"{scratch}/storage", "DAGSTER_HOME": f"{scratch}/home"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        command = [sys.executable, "-m", "cineseq_assets.cli", "run", "--films", films]
        subprocess.run(command + (OPTIONAL_PARTS_OFF if forecast else ["--no-forecast"]), env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        wall = time.perf_counter() - started
        peak_kb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return wall, peak_kb / 1024**2


def run_science_only(films: str) -> float:
    """Wall seconds of the panel features and decay fits for the same films, without Dagster."""
    sys.path.insert(0, str(ROOT))
    from cineseq_assets.boxoffice.bundled import bundled_trends, load_bundled
    from cineseq_assets.boxoffice.catalog import catalog_table
    from cineseq_assets.boxoffice.features import MarketCalendar
    from cineseq_assets.boxoffice.panel import film_panel
    from cineseq_assets.decay.fits import fit_film_decay

    started = time.perf_counter()
    data = load_bundled()
    catalog = catalog_table(data)
    ids = catalog["film_id"] if films == "all" else catalog.loc[catalog["showcase"], "film_id"]
    market, trends = MarketCalendar(data.market), bundled_trends()
    for film_id in ids:
        fit_film_decay(film_panel(data, film_id, market, trends.get(film_id)), film_id)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--films", default="all")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--forecast", action="store_true", help="also train, forecast and attribute")
    args = parser.parse_args()
    runs = [run_through_dagster(args.films, args.forecast) for _ in range(args.repeat)]
    science = run_science_only(args.films)
    walls, peaks = [w for w, _ in runs], [p for _, p in runs]
    print(f"| what ({args.films} films, {os.cpu_count()} cores) | median | min | max | runs |")
    print("|---|---|---|---|---|")
    print(f"| cineseq run: wall time (s) | {statistics.median(walls):.0f} | {min(walls):.0f} | {max(walls):.0f} | {len(walls)} |")
    print(f"| cineseq run: peak memory of one process (GB) | {statistics.median(peaks):.2f} | {min(peaks):.2f} | "
          f"{max(peaks):.2f} | {len(peaks)} |")
    print(f"| the same science without Dagster, one process (s) | {science:.0f} | | | 1 |")


if __name__ == "__main__":
    main()
