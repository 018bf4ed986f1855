# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench bench-quick browser lint docs clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,bench,dask]'
	touch $(STAMP)

## The default study on the embedded (synthetic) scenario market.
run: $(STAMP)
	$(BIN)/squeeze-lab study configs/default.toml

## The whole test suite (installs Debian's chromium for the tearsheet browser test when it can).
test: $(STAMP) browser
	$(BIN)/pytest -q

## Headless Chromium for the tearsheet test; skipped quietly where apt is not usable.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium not installed: the browser test will be skipped"; }

bench: $(STAMP)
	$(BIN)/python benchmarks/run_benchmarks.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run_benchmarks.py --quick

## docs/configuration.md from the parameter spec (tests/test_spec.py checks it is current).
docs: $(STAMP)
	$(BIN)/python -m squeeze_lab.strategies.spec > docs/configuration.md

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info runs .pytest_cache .hypothesis
