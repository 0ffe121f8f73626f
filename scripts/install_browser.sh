#!/usr/bin/env bash
# The demo's end-to-end test drives a real Chromium: the Debian package, not a browser downloaded
# by Playwright. Installs it with apt-get when it is missing (as root, or through sudo).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "[browser] chromium is missing and this system has no apt-get: install Chromium with your package manager" \
       "(the end-to-end test looks for 'chromium' or 'chromium-browser' on PATH)." >&2
  exit 2
fi
sudo=""
if [ "$(id -u)" != "0" ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "[browser] chromium is missing: run 'apt-get install chromium' as root." >&2
    exit 2
  fi
  sudo="sudo"
fi
echo "[browser] installing Debian chromium for the demo's end-to-end test (once)"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-liberation > /dev/null
echo "[browser] $(chromium --version)"
