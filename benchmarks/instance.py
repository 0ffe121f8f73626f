"""What the Dagster instance costs per film: SQLite with the project's pooled event log, Dagster's
plain SQLite event log, PostgreSQL with the project's pooled connections (the instance
``CINESEQ_INSTANCE=postgres`` writes), and dagster-postgres as it comes (a new connection per statement).

    python benchmarks/instance.py [--films showcase,310] [--repeat 3] [--no-postgres]

Each repetition materializes ``weekly_panel`` for the films (the showcase films, or the first N of the
catalog; each size in turn) in one run over a partition range, on a fresh instance and storage, in
this process; the instances take turns within a repetition, after one warm-up run. The same films'
panels are also built without Dagster, and what Dagster adds is reported per film, with the Dagster
events the run recorded per film (medians of the repetitions). A run has a fixed cost too (the run,
its step, its resources); the last line of each instance is the cost of one more film, from the
difference between the two sizes. PostgreSQL is a throwaway cluster that
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
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
import yaml  # noqa: E402

from cineseq_assets.dagster_instance import instance_yaml  # noqa: E402

warnings.filterwarnings("ignore", message=".*is currently in beta.*")  # as the CLI does
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
INSTANCES = {  # label -> dagster.yaml of that instance
    "SQLite, pooled event log (the default)": lambda home: instance_yaml("sqlite", home),
    "SQLite, Dagster's own event log": lambda home: "telemetry:\n  enabled: false\n",
    "PostgreSQL, pooled connections (CINESEQ_INSTANCE=postgres)": lambda home: instance_yaml("postgres", home),
    "PostgreSQL, dagster-postgres as it comes": lambda home: plain_postgres_yaml(home),
}


def plain_postgres_yaml(home: Path) -> str:
    """The project's PostgreSQL instance with dagster-postgres's own storage class in place of the pooled one."""
    config = yaml.safe_load(instance_yaml("postgres", home))
    config["storage"] = {"postgres": config["storage"]["custom"]["config"]}
    return yaml.safe_dump(config)


def select_films(spec: str) -> list[str]:
    from cineseq_assets.boxoffice.bundled import load_bundled
    from cineseq_assets.boxoffice.catalog import catalog_table

    catalog = catalog_table(load_bundled())
    return list(catalog.loc[catalog["showcase"], "film_id"] if spec == "showcase" else catalog["film_id"][: int(spec)])


Run = tuple[float, float, int, int | None]  # wall seconds, this process's CPU seconds, Dagster events, PostgreSQL connections


def materialize_panels(label: str, films: list[str], scratch: Path, sessions: Callable[[], int] | None = None) -> Run:
    """Wall and CPU seconds of one weekly_panel run over ``films`` on a fresh instance of the kind ``label`` names,
    the Dagster events the run recorded and, given ``sessions`` (the database's count), the connections it opened."""
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
        before = sessions() if sessions else None
        started, cpu = time.perf_counter(), time.process_time()
        result = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("weekly_panel")], tags=tags,
                                        run_config=QUIET)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        connections = sessions() - before - 1 if sessions else None  # less the count's own
        assert result.success and len(instance.get_materialized_partitions(dg.AssetKey("weekly_panel"))) == len(films)
        events = instance.get_records_for_run(result.run_id, limit=1_000_000).records
        return wall, cpu, sum(record.event_log_entry.is_dagster_event for record in events), connections


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

    def sessions(self) -> int:
        """Connections ever opened to the current database (each backend adds itself to the statistics as it exits)."""
        import psycopg2

        time.sleep(0.5)  # the run's last connections are still closing
        with psycopg2.connect(host="127.0.0.1", port=self.server["DAGSTER_PG_PORT"], dbname="postgres",
                              user=self.server["DAGSTER_PG_USERNAME"], password=self.server["DAGSTER_PG_PASSWORD"]) as connection:
            with connection.cursor() as cursor:
                cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (os.environ["DAGSTER_PG_DB"],))
                return cursor.fetchone()[0]

    def __exit__(self, *exc):
        subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "stop", self.server["PG_CLUSTER_DIR"]], check=True)


def measure(films: list[str], repeat: int, labels: list[str], postgres: Postgres | None) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {label: [] for label in labels}
    with tempfile.TemporaryDirectory() as scratch:
        materialize_panels(labels[0], films, Path(scratch))
    for _ in range(repeat):
        for label in labels:
            on_postgres = label.startswith("PostgreSQL")
            if on_postgres:
                postgres.database()
            with tempfile.TemporaryDirectory() as scratch:
                runs[label].append(materialize_panels(label, films, Path(scratch), postgres.sessions if on_postgres else None))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--films", default="showcase,310",
                        help="comma-separated sizes: showcase or the first N films of the catalog (default showcase,310)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true", help="only the two SQLite instances")
    args = parser.parse_args()
    sizes = [select_films(spec) for spec in args.films.split(",")]
    labels = [label for label in INSTANCES if not (args.no_postgres and label.startswith("PostgreSQL"))]
    if args.no_postgres:
        runs = [measure(films, args.repeat, labels, None) for films in sizes]
    else:
        with Postgres() as postgres:
            runs = [measure(films, args.repeat, labels, postgres) for films in sizes]
    science = [statistics.median(panels_without_dagster(films) for _ in range(args.repeat)) for films in sizes]
    alone = ", ".join(f"{1000 * seconds / len(films):.0f} ms per film ({len(films)} films)"
                      for films, seconds in zip(sizes, science))
    print(f"weekly_panel in one run per size, a fresh instance each time, median of {args.repeat}, {os.cpu_count()} cores; "
          f"the panels alone, without Dagster: {alone}\n")
    print("| instance | films | run wall time (s) | per film (ms) | Dagster's overhead per film (ms) | driver CPU per film (ms) "
          "| Dagster events per film | PostgreSQL connections per film |")
    print("|---|---|---|---|---|---|---|---|")
    for label in labels:
        medians = []  # per size: wall, CPU, events, connections
        for films, by_label, seconds in zip(sizes, runs, science):
            n = len(films)
            wall, cpu, events, connections = (None if column[0] is None else statistics.median(column)
                                              for column in zip(*by_label[label]))
            medians.append((wall, cpu, events, connections))
            print(f"| {label} | {n} | {wall:.2f} | {1000 * wall / n:.0f} | {1000 * (wall - seconds) / n:.0f} | "
                  f"{1000 * cpu / n:.0f} | {events / n:.1f} | {_per_film(connections, n)} |")
        if len(sizes) > 1:
            more = len(sizes[-1]) - len(sizes[0])
            (wall0, cpu0, events0, connections0), (wall1, cpu1, events1, connections1) = medians[0], medians[-1]
            extra_science = (science[-1] - science[0]) / more
            extra_connections = None if connections0 is None else connections1 - connections0
            print(f"| {label} | one more film | | {1000 * (wall1 - wall0) / more:.0f} | "
                  f"{1000 * ((wall1 - wall0) / more - extra_science):.0f} | {1000 * (cpu1 - cpu0) / more:.0f} | "
                  f"{(events1 - events0) / more:.1f} | {_per_film(extra_connections, more)} |")


def _per_film(count: float | None, films: int) -> str:
    return "-" if count is None else f"{count / films:.1f}"


if __name__ == "__main__":
    main()
