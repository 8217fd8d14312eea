#!/usr/bin/env bash
# Throwaway backing services on 127.0.0.1 for tests and benchmarks.
#
#   scripts/services.sh postgres-start DIR [PORT]  # prints postgresql+asyncpg://... on stdout
#   scripts/services.sh postgres-stop DIR
#   scripts/services.sh moto-start DIR [PORT]      # prints http://127.0.0.1:PORT on stdout
#   scripts/services.sh moto-stop DIR
#
# PostgreSQL: installed from Debian packages when missing (root only), a fresh cluster
# is initdb'ed into DIR (trust auth, fsync off: it is thrown away) and started with its
# socket in DIR too, so nothing touches a system cluster. The server refuses to run as
# root, so as root it runs as the `postgres` user. Everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "services: $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  if [[ -z "$dir" || ! -x "$dir/initdb" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
      say "PostgreSQL is not installed and we are not root: apt-get install postgresql"
      return 1
    fi
    say "installing PostgreSQL from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q postgresql >&2 || { apt-get update -q >&2 && apt-get install -y -q postgresql >&2; }
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  fi
  echo "$dir"
}

as_pg() {  # run a command line as the cluster owner
  if [[ $(id -u) -eq 0 ]]; then
    su postgres -s /bin/sh -c "$1"
  else
    sh -c "$1"
  fi
}

postgres_start() {
  local dir=$1 port=${2:-} bin
  bin=$(pg_bin)
  port=${port:-$(free_port)}
  mkdir -p "$dir/data" "$dir/sock"
  if [[ $(id -u) -eq 0 ]]; then
    chown -R postgres:postgres "$dir"
    # the server runs as postgres: let it pass through private parents (e.g. mktemp -d)
    local up
    up=$(cd "$dir/.." && pwd)
    while [[ "$up" != "/" ]]; do
      su postgres -s /bin/sh -c "test -x '$up'" || chmod o+x "$up"
      up=$(dirname "$up")
    done
  fi
  as_pg "'$bin/initdb' -D '$dir/data' -U postgres --auth=trust -E UTF8 --no-sync >'$dir/initdb.log' 2>&1"
  as_pg "'$bin/pg_ctl' -D '$dir/data' -l '$dir/pg.log' -w -t 60 start -o \"-p $port -k '$dir/sock' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400\" >&2"
  echo "$port" >"$dir/port"
  say "PostgreSQL $(basename "$(dirname "$bin")") on 127.0.0.1:$port (data in $dir)"
  echo "postgresql+asyncpg://postgres@127.0.0.1:$port/postgres"
}

postgres_stop() {
  local dir=$1 bin
  [[ -d "$dir/data" ]] || return 0
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  as_pg "'$bin/pg_ctl' -D '$dir/data' -m immediate -w stop >/dev/null 2>&1" || true
  rm -rf "$dir"
}

moto_start() {
  local dir=$1 port=${2:-}
  port=${port:-$(free_port)}
  mkdir -p "$dir"
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    nohup .venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
  echo $! >"$dir/moto.pid"
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/', timeout=1)" 2>/dev/null; then
      say "moto S3 on 127.0.0.1:$port"
      echo "http://127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  say "moto did not start: $(tail -n 20 "$dir/moto.log")"
  return 1
}

moto_stop() {
  local dir=$1
  if [[ -f "$dir/moto.pid" ]]; then
    kill "$(cat "$dir/moto.pid")" 2>/dev/null || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  postgres-start) postgres_start "$2" "${3:-}" ;;
  postgres-stop) postgres_stop "$2" ;;
  moto-start) moto_start "$2" "${3:-}" ;;
  moto-stop) moto_stop "$2" ;;
  *) echo "usage: $0 {postgres-start|postgres-stop|moto-start|moto-stop} DIR [PORT]" >&2; exit 2 ;;
esac
