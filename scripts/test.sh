#!/usr/bin/env bash
# The tests: install if needed, then ruff and the whole pytest suite, offline. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/install_browser.sh
source scripts/env.sh
if [ ! -d "$CINESEQ_SHARED" ]; then
  echo "[test] $CINESEQ_SHARED not found: the tests read real fixtures and models from the shared folder beside the checkout (or set CINESEQ_SHARED)." >&2
  exit 2
fi
# The int8 face detector is derived once per machine at setup, never inside an analysis.
.venv/bin/cineseq models prepare
echo "[test] ruff (lint and import order)"
.venv/bin/ruff check .
echo "[test] running pytest"
exec .venv/bin/python -m pytest "$@"
