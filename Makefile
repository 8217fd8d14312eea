# Two entry points for a fresh machine: `make serve` and `make test`.
# `serve` installs the runtime dependencies only; `test` adds the dev tools.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell cat pyproject.toml | sha1sum | cut -c1-12)
RUN_STAMP := $(VENV)/.runtime-$(HASH)
DEV_STAMP := $(VENV)/.dev-$(HASH)

.PHONY: serve test lint typecheck bench bench-peers clean

$(VENV)/bin/python:
	$(PY) -m venv $(VENV)

# --no-compile: bytecode is written as modules are first imported, not for every file of
# every dependency up front (botocore alone has thousands); it halves a fresh install
$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-compile -e .
	rm -f $(VENV)/.runtime-*
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
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
