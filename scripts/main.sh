#!/usr/bin/env bash
# The main job: install if needed, materialize the default asset graph on the bundled data, then
# serve the Dagster UI and the forecast demo on 127.0.0.1 (Ctrl-C stops both).
#   FILMS=showcase ./scripts/main.sh     a quick run on the ~30 showcase films
#   PORT=3000 DEMO_PORT=7860 ...         choose the ports; SERVE=0 materializes only
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
source scripts/env.sh
echo "[main] materializing the default asset graph (films: ${FILMS:-all})"
.venv/bin/cineseq run --films "${FILMS:-all}"
if [ "${SERVE:-1}" = "1" ]; then
  port=${PORT:-3000}
  demo_port=${DEMO_PORT:-7860}
  # Job control puts `dagster dev` in its own process group, so one signal stops it and its children.
  set -m
  .venv/bin/dagster dev -w workspace.yaml --host 127.0.0.1 --port "$port" > "$DAGSTER_HOME/dagster_dev.log" 2>&1 &
  dagster_pid=$!
  set +m
  trap 'kill -TERM -- -"$dagster_pid" 2>/dev/null || true; wait "$dagster_pid" 2>/dev/null || true' EXIT
  trap 'exit 130' INT TERM
  echo "[main] Dagster UI:    http://127.0.0.1:$port  (log: $DAGSTER_HOME/dagster_dev.log)"
  echo "[main] forecast demo: http://127.0.0.1:$demo_port  (Ctrl-C stops both)"
  .venv/bin/cineseq demo --host 127.0.0.1 --port "$demo_port"
fi
