#!/usr/bin/env bash
# Install reelgate (editable) into .venv: `make serve` runs `install.sh` (runtime only),
# `make test` runs `install.sh dev` (adds the dev tools and the s3 extra).
#
# uv, itself installed from PyPI as a wheel, resolves and installs in parallel; pip spends
# most of a fresh install parsing index pages one package at a time. On this project's
# 2-core machine a fresh runtime install took 5 s of CPU with uv against 29 s with pip.
# Both fetch from the package index only (uv: UV_DEFAULT_INDEX / UV_INDEX_URL to use a
# mirror). INSTALLER=pip (make serve INSTALLER=pip) uses pip alone, as does a machine
# where uv cannot be installed. Neither compiles bytecode up front: Python writes it for
# the modules it imports, a fraction of every file of every dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
VENV=${VENV:-.venv}
INSTALLER=${INSTALLER:-uv}
case "${1:-}" in
  "") TARGET=. ;;
  dev) TARGET=".[dev]" ;;
  *) echo "usage: $0 [dev]" >&2; exit 2 ;;
esac
QUIET=(-q --disable-pip-version-check --no-compile)

# the venv, without pip's own bundled copy (ensurepip alone costs ~6 s of CPU)
if [[ ! -x $VENV/bin/python ]]; then
  "$PY" -m venv --without-pip "$VENV"
fi

venv_pip() {  # pip inside the venv, from the bundled wheel if it has none yet
  if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    "$VENV/bin/python" -m ensurepip --default-pip >/dev/null
  fi
  "$VENV/bin/python" -m pip "$@"
}

if [[ $INSTALLER == uv && ! -x $VENV/bin/uv ]]; then
  # the interpreter's own pip can install into the venv (pip >= 22.3); else the venv's
  "$PY" -m pip --python "$VENV/bin/python" install "${QUIET[@]}" uv 2>/dev/null \
    || venv_pip install "${QUIET[@]}" uv \
    || echo "note: uv could not be installed; installing with pip" >&2
fi

if [[ $INSTALLER == uv && -x $VENV/bin/uv ]]; then
  # pip too, so `.venv/bin/pip` works as in any venv (scripts/check_wheel.py uses it)
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" -e "$TARGET" pip
else
  venv_pip install "${QUIET[@]}" -e "$TARGET"
fi
