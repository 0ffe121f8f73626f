"""Which Dagster instance ``$DAGSTER_HOME`` holds: SQLite (the default, no setup) or PostgreSQL.

``CINESEQ_INSTANCE`` chooses (``sqlite`` or ``postgres``); ``cineseq run`` writes the matching
``dagster.yaml`` before it opens the instance, and every Dagster process given the same
``DAGSTER_HOME`` (``dagster dev``, the CLI) then uses it too.

- ``sqlite``: files under ``$DAGSTER_HOME/history``, with the project's pooled event log
  (dagster_storage.py), which makes per-film events cheap enough for one machine.
- ``postgres``: ``dagster_postgres.yaml`` beside this module: runs, event log and schedules in one
  PostgreSQL database named by the ``DAGSTER_PG_*`` variables (the yaml reads them; no password in
  a file), through dagster-postgres with its connections kept open (dagster_postgres_storage.py). What several
  machines or many concurrent runs need.

A ``dagster.yaml`` that cineseq did not write (no marker line) is the user's and is never touched.
"""

import os
from importlib.resources import files
from pathlib import Path

from .errors import CineSeqError
from .settings import dagster_home
from .storage import write_bytes_atomic

SWITCH = "CINESEQ_INSTANCE"
MARKER = "# Written by cineseq for the {kind} instance"
POSTGRES_VARIABLES = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD")

# Telemetry off, and an event log that records thousands of per-film events quickly (dagster_storage.py).
SQLITE_YAML = MARKER + """ (CINESEQ_INSTANCE=sqlite, the default): runs,
# events and schedules in SQLite files under this folder. Delete this line and cineseq never rewrites the file.
telemetry:
  enabled: false
event_log_storage:
  module: cineseq_assets.dagster_storage
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {home}/history/event_log
"""
# What cineseq wrote before the marker line existed: the SQLite instance too.
UNMARKED_SQLITE = "class: PooledSqliteEventLogStorage"


class InstanceConfigError(CineSeqError):
    """``CINESEQ_INSTANCE`` names no instance, or the PostgreSQL one lacks its connection variables."""


def instance_kind() -> str:
    kind = os.environ.get(SWITCH, "").strip().lower() or "sqlite"
    if kind not in ("sqlite", "postgres"):
        raise InstanceConfigError(f"{SWITCH}={os.environ[SWITCH]!r}: choose sqlite (the default) or postgres.")
    return kind


def instance_yaml(kind: str, home: Path) -> str:
    if kind == "postgres":
        return files(__package__).joinpath("dagster_postgres.yaml").read_text()
    return SQLITE_YAML.format(kind=kind, home=home)


def written_for(config: Path) -> str | None:
    """The instance cineseq wrote ``config`` for; None when the file is missing or is the user's own."""
    if not config.exists():
        return None
    text = config.read_text()
    for kind in ("sqlite", "postgres"):
        if text.startswith(MARKER.format(kind=kind)):
            return kind
    return "sqlite" if UNMARKED_SQLITE in text else None


def prepare_dagster_home() -> str:
    """A project-local DAGSTER_HOME whose dagster.yaml is the instance ``CINESEQ_INSTANCE`` asks for;
    returns what the instance is, for the log."""
    kind = instance_kind()
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    written = written_for(config)
    wanted = instance_yaml(kind, home)
    # cineseq's own file is rewritten when the switch changes, and when this version of cineseq writes it otherwise
    if not config.exists() or (written is not None and config.read_text() != wanted):
        write_bytes_atomic(wanted.encode(), config)
        written = kind
    os.environ["DAGSTER_HOME"] = str(home)
    if written is None:
        return f"Dagster instance: {config} (your own dagster.yaml; {SWITCH} does not change it)"
    if written == "postgres":
        missing = [name for name in POSTGRES_VARIABLES if name not in os.environ]
        if missing:
            raise InstanceConfigError(
                f"{config} is the PostgreSQL instance, and {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                f"not set: export the connection ({', '.join(POSTGRES_VARIABLES)}; README, 'Deploying on PostgreSQL'), "
                f"or unset {SWITCH} for the local SQLite instance.")
        return (f"Dagster instance: PostgreSQL {os.environ['DAGSTER_PG_USERNAME']}@{os.environ['DAGSTER_PG_HOST']}:"
                f"{os.environ['DAGSTER_PG_PORT']}/{os.environ['DAGSTER_PG_DB']}")
    return f"Dagster instance: SQLite under {home}"
