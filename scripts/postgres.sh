#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for the tests and benchmarks of the PostgreSQL instance.
#
#   scripts/postgres.sh start    initdb + pg_ctl in a new temporary folder, on a random free port; prints
#                                 KEY=VALUE lines: PG_CLUSTER_DIR and the DAGSTER_PG_* variables that the
#                                 instance's dagster.yaml reads (cineseq_assets/dagster_postgres.yaml)
#   scripts/postgres.sh stop DIR stops the server of that folder and removes the folder
#
# Debian's `postgresql` is installed with apt-get when no initdb is found (on PATH or under
# /usr/lib/postgresql/*/bin). As root the server runs as the `postgres` user (PostgreSQL refuses to run as
# root); otherwise as the current user. Host connections need the cluster's random password (SCRAM), which
# is printed, never stored in the repository.
# Exit codes: 0 ok, 2 usage, 3 PostgreSQL is not installed and cannot be, 4 the server did not start.
set -euo pipefail

fail() { echo "postgres.sh: $2" >&2; exit "$1"; }

find_bin_dir() {
  if command -v initdb > /dev/null && command -v pg_ctl > /dev/null; then
    dirname "$(readlink -f "$(command -v initdb)")"
    return
  fi
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -n 1 || true)
  [ -n "$newest" ] && [ -x "$newest/initdb" ] && echo "$newest"
}

install_postgresql() {
  [ "$(id -u)" = 0 ] || fail 3 "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)"
  command -v apt-get > /dev/null || fail 3 "PostgreSQL is not installed and this system has no apt-get to install it"
  echo "postgres.sh: installing Debian's postgresql with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -q postgresql || { apt-get update -q && apt-get install -y -q postgresql; }; } > /dev/null 2>&1 ||
    fail 3 "apt-get install postgresql failed (no network or no package source?)"
}

# Runs a PostgreSQL binary as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local bin dir port password
  bin=$(find_bin_dir || true)
  if [ -z "$bin" ]; then
    install_postgresql
    bin=$(find_bin_dir || true)
    [ -n "$bin" ] || fail 3 "postgresql was installed but no initdb was found under /usr/lib/postgresql/*/bin"
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres > /dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres ||
      fail 4 "running as root and no 'postgres' user exists, nor could one be created"
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/cineseq-pg.XXXXXX")
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  # initdb reads the superuser's password from a file; it lives in the cluster's folder only until initdb ends.
  (umask 077; printf '%s\n' "$password" > "$dir/pwfile")
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir/pwfile"; fi
  as_owner "$bin/initdb" -D "$dir/data" -U cineseq --pwfile="$dir/pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync > "$dir/initdb.log" 2>&1 ||
    { rm -f "$dir/pwfile"; fail 4 "initdb failed: $(tail -n 5 "$dir/initdb.log")"; }
  rm -f "$dir/pwfile"
  port=$(free_port)
  # Only 127.0.0.1, its own socket folder (not /var/run/postgresql), the server's default durability.
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start > /dev/null 2>&1; then
    tail -n 5 "$dir/server.log" >&2 || true
    rm -rf "$dir"
    fail 4 "the server did not start on 127.0.0.1:$port"
  fi
  as_owner "$bin/createdb" -h "$dir" -p "$port" -U cineseq cineseq ||
    { stop "$dir"; fail 4 "createdb failed"; }
  echo "PG_CLUSTER_DIR=$dir"
  echo "PG_BIN_DIR=$bin"
  echo "DAGSTER_PG_HOST=127.0.0.1"
  echo "DAGSTER_PG_PORT=$port"
  echo "DAGSTER_PG_DB=cineseq"
  echo "DAGSTER_PG_USERNAME=cineseq"
  echo "DAGSTER_PG_PASSWORD=$password"
}

stop() {
  local dir=$1 bin
  [ -f "$dir/data/PG_VERSION" ] || fail 2 "$dir is not a cluster started by this script"
  bin=$(find_bin_dir || true)
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop > /dev/null 2>&1 || true
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) [ -n "${2:-}" ] || fail 2 "usage: $0 stop DIR"; stop "$2" ;;
  *) fail 2 "usage: $0 start | stop DIR" ;;
esac
