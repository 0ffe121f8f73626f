"""What the Dagster instance costs per film: SQLite with the project's pooled event log, Dagster's
plain SQLite event log, and PostgreSQL (dagster-postgres).

    python benchmarks/instance.py [--films showcase|N] [--repeat 3] [--no-postgres]

Each repetition materializes ``weekly_panel`` for the films (the showcase films, or the first N of the
catalog) in one run over a partition range, on a fresh instance and storage, in this process; the
instances take turns within a repetition, after one warm-up run. The same films' panels are also
built without Dagster, and what Dagster adds is reported per film, with the Dagster events the run
recorded per film (the median of the repetitions). PostgreSQL is a throwaway cluster that
scripts/postgres.sh starts on 127.0.0.1 (server defaults, password authentication) and removes
afterwards; each repetition gets a new database. Prints one table.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402

from cineseq_assets.dagster_instance import instance_yaml  # noqa: E402

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
INSTANCES = {  # label -> dagster.yaml of that instance
    "SQLite, pooled event log (the default)": lambda home: instance_yaml("sqlite", home),
    "SQLite, Dagster's own event log": lambda home: "telemetry:\n  enabled: false\n",
    "PostgreSQL (dagster-postgres)": lambda home: instance_yaml("postgres", home),
}


def select_films(spec: str) -> list[str]:
    from cineseq_assets.boxoffice.bundled import load_bundled
    from cineseq_assets.boxoffice.catalog import catalog_table

    catalog = catalog_table(load_bundled())
    return list(catalog.loc[catalog["showcase"], "film_id"] if spec == "showcase" else catalog["film_id"][: int(spec)])


def materialize_panels(label: str, films: list[str], scratch: Path) -> tuple[float, int]:
    """Wall seconds of one weekly_panel run over ``films`` on a fresh instance of the kind ``label`` names, and
    the Dagster events the run recorded."""
    from cineseq_assets.definitions import build_definitions
    from cineseq_assets.partitions import films_partitions

    home = scratch / "home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(INSTANCES[label](home))
    os.environ["DAGSTER_HOME"] = str(home)
    job = build_definitions(scratch / "storage").resolve_job_def("film_panels_job")
    with dg.DagsterInstance.get() as instance:
        # Only these films are partitions, so the range from the first to the last is exactly them.
        instance.add_dynamic_partitions(films_partitions.name, films)
        tags = {"dagster/asset_partition_range_start": films[0], "dagster/asset_partition_range_end": films[-1]}
        started = time.perf_counter()
        result = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("weekly_panel")], tags=tags,
                                        run_config=QUIET)
        wall = time.perf_counter() - started
        assert result.success and len(instance.get_materialized_partitions(dg.AssetKey("weekly_panel"))) == len(films)
        events = instance.get_records_for_run(result.run_id, limit=1_000_000).records
        return wall, sum(record.event_log_entry.is_dagster_event for record in events)


def panels_without_dagster(films: list[str]) -> float:
    from cineseq_assets.boxoffice.bundled import bundled_trends, load_bundled
    from cineseq_assets.boxoffice.features import MarketCalendar
    from cineseq_assets.boxoffice.panel import film_panel

    started = time.perf_counter()
    data = load_bundled()
    market, trends = MarketCalendar(data.market), bundled_trends()
    for film_id in films:
        film_panel(data, film_id, market, trends.get(film_id))
    return time.perf_counter() - started


class Postgres:
    """A throwaway cluster from scripts/postgres.sh; ``database()`` points DAGSTER_PG_* at a new database."""

    def __enter__(self):
        started = subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "start"], capture_output=True, text=True,
                                 check=True)
        self.server = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
        os.environ.update({name: value for name, value in self.server.items() if name.startswith("DAGSTER_PG_")})
        self.count = 0
        return self

    def database(self) -> None:
        self.count += 1
        name = f"bench_{self.count}"
        subprocess.run([f"{self.server['PG_BIN_DIR']}/createdb", "-h", "127.0.0.1", "-p", self.server["DAGSTER_PG_PORT"],
                        "-U", self.server["DAGSTER_PG_USERNAME"], name], check=True,
                       env={**os.environ, "PGPASSWORD": self.server["DAGSTER_PG_PASSWORD"]})
        os.environ["DAGSTER_PG_DB"] = name

    def __exit__(self, *exc):
        subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "stop", self.server["PG_CLUSTER_DIR"]], check=True)


def measure(films: list[str], repeat: int, labels: list[str], postgres: Postgres | None) -> dict[str, list[tuple[float, int]]]:
    runs: dict[str, list[tuple[float, int]]] = {label: [] for label in labels}
    with tempfile.TemporaryDirectory() as scratch:
        materialize_panels(labels[0], films, Path(scratch))
    for _ in range(repeat):
        for label in labels:
            if label.startswith("PostgreSQL"):
                postgres.database()
            with tempfile.TemporaryDirectory() as scratch:
                runs[label].append(materialize_panels(label, films, Path(scratch)))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--films", default="showcase", help="showcase (default) or the first N films of the catalog")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true", help="only the two SQLite instances")
    args = parser.parse_args()
    films = select_films(args.films)
    labels = [label for label in INSTANCES if not (args.no_postgres and label.startswith("PostgreSQL"))]
    if args.no_postgres:
        runs = measure(films, args.repeat, labels, None)
    else:
        with Postgres() as postgres:
            runs = measure(films, args.repeat, labels, postgres)
    science = statistics.median(panels_without_dagster(films) for _ in range(args.repeat))
    n = len(films)
    print(f"weekly_panel over {n} films ({args.films}), one run each, median of {args.repeat}, {os.cpu_count()} cores; "
          f"the panels alone, without Dagster: {science:.2f} s ({1000 * science / n:.0f} ms per film)\n")
    print("| instance | run wall time (s) | per film (ms) | Dagster's overhead per film (ms) | Dagster events per film |")
    print("|---|---|---|---|---|")
    for label in labels:
        wall = statistics.median(w for w, _ in runs[label])
        events = statistics.median(e for _, e in runs[label])
        print(f"| {label} | {wall:.2f} | {1000 * wall / n:.0f} | {1000 * (wall - science) / n:.0f} | {events / n:.1f} |")


if __name__ == "__main__":
    main()
