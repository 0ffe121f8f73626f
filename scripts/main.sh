#!/usr/bin/env bash
# The main job: install if needed, materialize the default asset graph on the bundled data, then
# serve the Dagster UI on 127.0.0.1 (Ctrl-C stops it).
#   FILMS=showcase ./scripts/main.sh     a quick run on the ~30 showcase films
#   PORT=3000 SERVE=0 ...                choose the port, or skip serving
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
source scripts/env.sh
echo "[main] materializing the default asset graph (films: ${FILMS:-all})"
.venv/bin/cineseq run --films "${FILMS:-all}"
if [ "${SERVE:-1}" = "1" ]; then
  port=${PORT:-3000}
  echo "[main] Dagster UI: http://127.0.0.1:$port  (Ctrl-C to stop)"
  exec .venv/bin/dagster dev -w workspace.yaml --host 127.0.0.1 --port "$port"
fi
