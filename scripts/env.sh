# Sourced by the scripts: project-local Dagster home with telemetry off, analytics off, offline hubs.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DAGSTER_HOME="${DAGSTER_HOME:-$root/.dagster_home}"
mkdir -p "$DAGSTER_HOME"
[ -f "$DAGSTER_HOME/dagster.yaml" ] || printf 'telemetry:\n  enabled: false\n' > "$DAGSTER_HOME/dagster.yaml"
export GRADIO_ANALYTICS_ENABLED=False
export HF_HUB_OFFLINE=1
export CINESEQ_SHARED="${CINESEQ_SHARED:-$root/../shared}"
export CINESEQ_MODEL_DIR="${CINESEQ_MODEL_DIR:-$CINESEQ_SHARED/models}"
