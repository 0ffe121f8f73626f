# Sourced by the scripts: project-local Dagster home, analytics off, offline hubs.
# `cineseq run` writes $DAGSTER_HOME/dagster.yaml on first use (telemetry off, the fast event log).
# CINESEQ_INSTANCE=postgres makes that the PostgreSQL instance (cineseq_assets/dagster_postgres.yaml), which reads
# the connection from DAGSTER_PG_HOST, DAGSTER_PG_PORT, DAGSTER_PG_DB, DAGSTER_PG_USERNAME and DAGSTER_PG_PASSWORD.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DAGSTER_HOME="${DAGSTER_HOME:-$root/.dagster_home}"
export CINESEQ_INSTANCE="${CINESEQ_INSTANCE:-sqlite}"
export GRADIO_ANALYTICS_ENABLED=False
export HF_HUB_OFFLINE=1
export CINESEQ_SHARED="${CINESEQ_SHARED:-$root/../shared}"
export CINESEQ_MODEL_DIR="${CINESEQ_MODEL_DIR:-$CINESEQ_SHARED/models}"
