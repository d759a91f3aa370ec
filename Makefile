# llmmon: `make demo` and `make test` each install what they need (a .venv with the package, and
# promtool/amtool from Debian's prometheus packages when run as root).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SPEC ?= specs/example.yaml

.PHONY: demo test lint unit tools install regen bench clean

demo: install tools
	@$(BIN)/llmmon generate $(SPEC)
	@$(BIN)/llmmon validate $(SPEC)

test: install tools lint unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: install tools
	$(BIN)/pytest -q

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# promtool and amtool: Debian's `prometheus` and `prometheus-alertmanager` packages.
tools:
	@if ! command -v promtool >/dev/null 2>&1 || ! command -v amtool >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing promtool and amtool (Debian packages prometheus, prometheus-alertmanager)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      prometheus prometheus-alertmanager >/dev/null; \
	  else \
	    echo "promtool/amtool are missing: install them (Debian/Ubuntu: sudo apt-get install prometheus" \
	         "prometheus-alertmanager), or put them on PATH, then re-run make"; \
	    exit 1; \
	  fi; \
	fi

# Regenerate the committed golden output of the example spec; review the diff before committing.
regen: install
	$(BIN)/llmmon generate $(SPEC) -o out

bench: install
	$(BIN)/python bench/generate.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
