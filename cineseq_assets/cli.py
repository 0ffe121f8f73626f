"""``cineseq``: the project's command line.

    cineseq films [--showcase] [--search TEXT]     list the film catalog
    cineseq run [--films all|showcase|ID,ID...]     materialize the default asset graph, with progress
"""

import argparse
import warnings
import os
import sys
import time

from .settings import dagster_home

# Telemetry off, and an event log that records thousands of per-film events quickly
# (see dagster_storage.py).
DAGSTER_YAML = """telemetry:
  enabled: false
event_log_storage:
  module: cineseq_assets.dagster_storage
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {home}/history/event_log
"""


def prepare_dagster_home() -> None:
    """A project-local DAGSTER_HOME with telemetry off (created on first use)."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML.format(home=home))
    os.environ["DAGSTER_HOME"] = str(home)


def cmd_films(args: argparse.Namespace) -> int:
    from .boxoffice.catalog import catalog_table
    from .definitions import default_resources

    catalog = catalog_table(default_resources()["box_office"].load())
    if args.showcase:
        catalog = catalog[catalog["showcase"]]
    if args.search:
        catalog = catalog[catalog["title"].str.contains(args.search, case=False, regex=False)]
    shown = catalog.assign(release_date=catalog["release_date"].dt.date, total_gross=(catalog["total_gross"] / 1e6).round(1))
    columns = ["film_id", "title", "release_date", "release_width", "usable_weeks", "total_gross", "showcase"]
    print(shown[columns].rename(columns={"total_gross": "gross_$M"}).to_string(index=False, max_rows=args.limit))
    print(f"\n{len(catalog)} films")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    prepare_dagster_home()
    from .runner import run_default_graph

    started = time.perf_counter()
    ok = run_default_graph(args.films, log=lambda message: print(message, flush=True))
    print(f"{'done' if ok else 'FAILED'} in {time.perf_counter() - started:.0f} s", flush=True)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    parser = argparse.ArgumentParser(prog="cineseq", description="CineSeq: decay-aware box-office forecasting on Dagster.")
    commands = parser.add_subparsers(dest="command", required=True)
    films = commands.add_parser("films", help="list the film catalog")
    films.add_argument("--showcase", action="store_true", help="only the showcase films")
    films.add_argument("--search", help="case-insensitive part of a title")
    films.add_argument("--limit", type=int, default=60, help="rows to print (default 60)")
    films.set_defaults(func=cmd_films)
    run = commands.add_parser("run", help="materialize the default asset graph (catalog, panel, decay)")
    run.add_argument("--films", default="all", help="all (default), showcase, or comma-separated film ids")
    run.set_defaults(func=cmd_run)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
