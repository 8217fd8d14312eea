#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest. Called by `make test` and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
echo "== ruff"; $BIN/ruff check src tests bench
echo "== mypy --strict src"; $BIN/mypy src
echo "== pytest"; $BIN/pytest -q -p no:cacheprovider "$@"
