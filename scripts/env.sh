# Sourced by the scripts: project-local Dagster home, analytics off, offline hubs.
# `cineseq run` writes $DAGSTER_HOME/dagster.yaml on first use (telemetry off, the fast event log).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DAGSTER_HOME="${DAGSTER_HOME:-$root/.dagster_home}"
export GRADIO_ANALYTICS_ENABLED=False
export HF_HUB_OFFLINE=1
export CINESEQ_SHARED="${CINESEQ_SHARED:-$root/../shared}"
export CINESEQ_MODEL_DIR="${CINESEQ_MODEL_DIR:-$CINESEQ_SHARED/models}"
