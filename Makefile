# Two entry points for a fresh machine: `make serve` and `make test`.
# `serve` installs the runtime dependencies only; `test` adds the dev tools and the s3 extra.
# A fresh clone's `make serve` answered /healthz after 26-30 s on the 2-core dev machine at
# load 13-15 (other agents running), 8-9 s of CPU: ~5 s installing (uv), ~3.5 s starting.
# Before uv and the s3 extra: 227 s, 48 s of CPU (pip alone, s3 extra out: 81 s, 21 s).
PY ?= python3
INSTALLER ?= uv
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell cat pyproject.toml | sha1sum | cut -c1-12)
RUN_STAMP := $(VENV)/.runtime-$(HASH)
DEV_STAMP := $(VENV)/.dev-$(HASH)

.PHONY: serve test lint typecheck bench bench-peers clean

# scripts/install.sh: the venv, uv from PyPI, then reelgate (editable) with uv (INSTALLER=pip
# for pip alone); no bytecode compiled up front
$(RUN_STAMP): pyproject.toml scripts/install.sh
	PY=$(PY) INSTALLER=$(INSTALLER) bash scripts/install.sh
	rm -f $(VENV)/.runtime-*
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml scripts/install.sh
	PY=$(PY) INSTALLER=$(INSTALLER) bash scripts/install.sh dev
	rm -f $(VENV)/.runtime-* $(VENV)/.dev-*
	touch $(RUN_STAMP) $(DEV_STAMP)

serve: $(RUN_STAMP)
	@echo "reelgate CLI: $(abspath $(BIN))/reelgate  (or: source $(VENV)/bin/activate)"
	$(BIN)/reelgate serve

test: $(DEV_STAMP)
	bash scripts/test.sh

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

# reelgate vs LiteLLM proxy on one fake upstream; ARGS=--quick for a < 2 min check
bench-peers: $(DEV_STAMP)
	$(BIN)/python bench/peers/run.py $(ARGS)

clean:
	rm -rf $(VENV) .reelgate-test
