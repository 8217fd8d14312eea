#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest on SQLite and again on PostgreSQL.
# Called by `make test` and .ci/run. PostgreSQL is a throwaway cluster on 127.0.0.1
# (scripts/services.sh; installed from Debian packages if missing), removed on exit.
# REELGATE_TEST_POSTGRES=0 skips the PostgreSQL pass (e.g. on a machine without it).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
echo "== ruff"; $BIN/ruff check src tests bench
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

echo "== pytest (SQLite)"
REELGATE_TEST_DATABASE=sqlite $BIN/pytest -q -p no:cacheprovider "$@"
if [[ -n "${REELGATE_TEST_POSTGRES_URL:-}" ]]; then
  echo "== pytest (PostgreSQL)"
  REELGATE_TEST_DATABASE=postgres $BIN/pytest -q -p no:cacheprovider "$@"
fi
