#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest on SQLite and again on PostgreSQL.
# Called by `make test` and .ci/run. PostgreSQL is a throwaway cluster on 127.0.0.1
# (scripts/services.sh; installed from Debian packages if missing), removed on exit.
# REELGATE_TEST_POSTGRES=0 skips the PostgreSQL pass (e.g. on a machine without it).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
echo "== ruff"; $BIN/ruff check src tests bench

# redis-server for the shared rate-limit tests (the tests start their own on 127.0.0.1)
if ! command -v redis-server >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]]; then
    echo "== installing redis-server (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q redis-server >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null; }
  else
    echo "redis-server is missing and we are not root: apt-get install redis-server" >&2
  fi
fi
echo "== mypy --strict src"; $BIN/mypy src

if [[ "${REELGATE_TEST_POSTGRES:-1}" != 0 ]]; then
  PGTMP=$(mktemp -d /tmp/reelgate-pg.XXXXXX)
  trap 'bash scripts/services.sh postgres-stop "$PGTMP"' EXIT
  REELGATE_TEST_POSTGRES_URL=$(bash scripts/services.sh postgres-start "$PGTMP")
  export REELGATE_TEST_POSTGRES_URL
fi

if [[ ! -x /usr/bin/chromium ]]; then  # the admin UI's browser tests drive Debian Chromium
  echo "== apt-get install chromium"
  SUDO=""; [[ $(id -u) != 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# Two pytest workers (REELGATE_TEST_JOBS=1 for one): most tests wait on a gateway process
# or a fake upstream, so two workers finish sooner even on two cores. A file's tests stay on
# one worker (--dist loadfile), so a module's gateway is started once, not once per worker.
PARALLEL=()
[[ "${REELGATE_TEST_JOBS:-2}" != 1 ]] && PARALLEL=(-n "${REELGATE_TEST_JOBS:-2}" --dist loadfile)

echo "== pytest (SQLite)"
REELGATE_TEST_DATABASE=sqlite $BIN/pytest -q -p no:cacheprovider "${PARALLEL[@]}" "$@"
if [[ -n "${REELGATE_TEST_POSTGRES_URL:-}" ]]; then
  # again on PostgreSQL, without the suites that never touch a database
  echo "== pytest (PostgreSQL)"
  REELGATE_TEST_DATABASE=postgres $BIN/pytest -q -p no:cacheprovider "${PARALLEL[@]}" \
    --ignore=tests/unit --ignore=tests/providers "$@"
fi
