#!/usr/bin/env bash
# Create the project's virtual environment (.venv) if needed and install CineSeq into it with the
# pinned versions of constraints.txt, then derive the int8 face detector (`cineseq models prepare`).
# Idempotent: a second run only checks (a few seconds).
# The postgres extra (dagster-postgres) comes too: the tests run the PostgreSQL instance on a real server.
# BENCH=1 also installs the benchmark's peers (the `bench` extra: mlforecast, neuralforecast, statsforecast).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
# The int8 face detector is derived once per machine here (10-20 s the first time, a check after), never
# inside a user's first trailer analysis. Without the float model or the shared clips it cannot be: the
# trailer stage then detects faces in fp32 (slower, same faces), and setup goes on.
prepare_models() {
  source scripts/env.sh
  .venv/bin/cineseq models prepare ||
    echo "[setup] faces will be detected in fp32 until \`cineseq models prepare\` succeeds" >&2
}

stamp=.venv/.cineseq-installed
want=$( (cat pyproject.toml constraints.txt; echo "BENCH=${BENCH:-0}") | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "[setup] .venv is up to date"
  prepare_models
  exit 0
fi
echo "[setup] installing CineSeq and its pinned dependencies (first time: a few minutes)"
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${BENCH:-0}" = 1 ]; then
  # The peers of benchmarks/peers.py (mlforecast, neuralforecast, statsforecast): about 300 MB more.
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[test,postgres,bench]"
else
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[test,postgres]"
fi
echo "$want" > "$stamp"
prepare_models
echo "[setup] done"
