#!/usr/bin/env bash
# The main job: install if needed, materialize the default asset graph on the bundled data (with the
# frame classifier, the emotion student and the evaluation when the shared data folder and the model
# files are found; `cineseq run` says what it left out and why), then serve the Dagster UI and the
# forecast demo on 127.0.0.1 (Ctrl-C stops both). A second run materializes only what changed.
#   FILMS=showcase ./scripts/main.sh     a quick run on the ~30 showcase films
#   RUN_ARGS="--no-evaluation" ...       more options for `cineseq run` (see `cineseq run --help`)
#   PORT=3000 DEMO_PORT=7860 ...         choose the ports; SERVE=0 materializes only
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh  # also derives the int8 face detector once (`cineseq models prepare`)
source scripts/env.sh
echo "[main] materializing the default asset graph (films: ${FILMS:-all})"
# shellcheck disable=SC2086  # RUN_ARGS is split into options on purpose
.venv/bin/cineseq run --films "${FILMS:-all}" ${RUN_ARGS:-}
if [ "${SERVE:-1}" = "1" ]; then
  port=${PORT:-3000}
  demo_port=${DEMO_PORT:-7860}
  # Job control puts `dagster dev` in its own process group, so one signal stops it and its children.
  # dagster dev handles SIGTERM as it handles SIGINT; started from a shell that ignores SIGINT (nohup,
  # a background job) it would ignore both, so the default SIGINT is restored before it starts.
  set -m
  .venv/bin/python -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
    .venv/bin/dagster dev -w workspace.yaml --host 127.0.0.1 --port "$port" > "$DAGSTER_HOME/dagster_dev.log" 2>&1 &
  dagster_pid=$!
  set +m
  stop_dagster() {
    kill -TERM -- -"$dagster_pid" 2>/dev/null || return 0
    for _ in $(seq 1 40); do kill -0 "$dagster_pid" 2>/dev/null || return 0; sleep 0.5; done
    echo "[main] dagster dev did not stop within 20 s: killing it" >&2
    kill -KILL -- -"$dagster_pid" 2>/dev/null || true
  }
  trap stop_dagster EXIT
  trap 'exit 130' INT TERM
  echo "[main] Dagster UI:    http://127.0.0.1:$port  (log: $DAGSTER_HOME/dagster_dev.log)"
  echo "[main] forecast demo: http://127.0.0.1:$demo_port  (Ctrl-C stops both)"
  .venv/bin/cineseq demo --host 127.0.0.1 --port "$demo_port"
fi
