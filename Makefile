# llmmon: `make demo` and `make test` each install what they need (a .venv with the package, and
# promtool/amtool from Debian's prometheus packages when run as root).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SPEC ?= specs/example.yaml
# --- tools built from Go modules (llmmon/toolchain.py): Prometheus 3, Alertmanager 0.35, Sloth, the OpenTelemetry
# Collector, pinned, built once into a cache outside the repo (a second `make tools` builds nothing, offline).
export LLMMON_TOOLS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/llmmon-tools
# checkov gets a virtual environment of its own: its pins (packaging<24) clash with pytest's. It lives in the tool
# cache too, one per checkov and Python version, so that a fresh clone does not install it again (~20 s).
CHECKOV_VERSION := 3.3.30
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
CHECKOV_HOME := $(LLMMON_TOOLS_CACHE)/checkov-$(CHECKOV_VERSION)-py$(PYTHON_VERSION)
CHECKOV := $(CHECKOV_HOME)/bin/checkov
export LLMMON_CHECKOV ?= $(CHECKOV)
export LLMMON_OTELCOL ?= $(shell $(PYTHON) -m llmmon.toolchain where otelcol)
# The live routing test (tests/test_live_routing.py) runs once per pair of the servers these list: Debian's (the
# oldest supported, the first: what bench/promserver.binary() and bench/amserver.binary() start) and the current.
export LLMMON_PROMETHEUS ?= /usr/bin/prometheus:$(shell $(PYTHON) -m llmmon.toolchain where prometheus)
export LLMMON_ALERTMANAGER ?= /usr/bin/prometheus-alertmanager:$(shell $(PYTHON) -m llmmon.toolchain where alertmanager)
# --- end of the Go-built tools block
# The Elasticsearch client's request types and tsc (npm, pinned), for the ILM policy and index template; in the
# tool cache, one folder per pair of versions.
ES_TYPES_VERSION := 9.5.1
TYPESCRIPT_VERSION := 5.9.3
ES_TYPES := $(LLMMON_TOOLS_CACHE)/estypes-$(ES_TYPES_VERSION)-typescript-$(TYPESCRIPT_VERSION)
export LLMMON_ES_TYPES ?= $(ES_TYPES)

.PHONY: demo test test-deep lint unit tools install regen docs bench bench-validate bench-alerting bench-cost bench-instrument clean

# The demo leaves out the checkov scan (2-3 s on its own) and the Elasticsearch type check (tsc, 5-10 s); `make test`
# and a plain `llmmon validate` run them. So it installs neither (NO_CHECKOV=1 NO_ES_TYPES=1), nor the Go-built
# current releases the test matrix runs against (NO_GO_TOOLS=1: Debian's promtool and amtool are all it needs).
demo: install
	@$(MAKE) --no-print-directory tools NO_CHECKOV=1 NO_ES_TYPES=1 NO_GO_TOOLS=1
	@LLMMON_CHECKOV=off LLMMON_ES_TYPES=off LLMMON_OTELCOL=$(if $(wildcard $(LLMMON_OTELCOL)),$(LLMMON_OTELCOL),off) \
	  $(BIN)/llmmon generate $(SPEC) --validate
	@echo "llmmon is installed in $(VENV): run $(BIN)/llmmon, or 'source $(BIN)/activate' and then llmmon"

test: install tools lint unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# Tests run in parallel workers (pytest-xdist). Four on two cores: a test waiting on a real server's `for:`, a
# group wait or a hanging checker's timeout leaves its core to another worker. TEST_WORKERS=0: one process.
# worksteal: each worker starts with a quarter of the tests in order (module fixtures stay with their tests) and a
# worker that runs dry takes half of the busiest one's queue, so no long test is left to run alone at the end. Tests
# marked `waits` (minutes on real servers' clocks) are put at the heads of the shares (tests/scheduling.py).
TEST_WORKERS ?= 4
unit: install tools
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal

# The property tests with many more random specs (100 checked in full, fleets up to 50 models) than `make test`
# runs (12, up to 12 models): tests/specgen.py EXAMPLES; HYPOTHESIS_PROFILE=long for 5 times more again.
test-deep: install tools
	HYPOTHESIS_PROFILE=dev $(BIN)/pytest -q -n $(TEST_WORKERS) tests/test_properties.py

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# promtool and amtool: Debian's `prometheus` and `prometheus-alertmanager` packages (the oldest supported versions);
# the current releases built from Go modules (llmmon.toolchain, needs Go); checkov: PyPI, own venv.
tools: $(if $(NO_CHECKOV),,$(CHECKOV_HOME)/.installed) $(if $(NO_ES_TYPES),,$(ES_TYPES)/.installed)
	@if ! command -v promtool >/dev/null 2>&1 || ! command -v amtool >/dev/null 2>&1 \
	    || ! command -v prometheus >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing prometheus, promtool and amtool (Debian packages prometheus, prometheus-alertmanager)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      prometheus prometheus-alertmanager >/dev/null; \
	  else \
	    echo "prometheus/promtool/amtool are missing: install them (Debian/Ubuntu: sudo apt-get install prometheus" \
	         "prometheus-alertmanager), or put them on PATH, then re-run make"; \
	    exit 1; \
	  fi; \
	fi
	@# Prometheus 3, Alertmanager 0.35, Sloth and the collector: the current releases the tests also run against
	@$(if $(NO_GO_TOOLS),,$(PYTHON) -m llmmon.toolchain build)
	@# kubectl: `kubectl kustomize` in validate (`--strict` fails without it); Debian's kubernetes-client has it
	@if ! command -v kubectl >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing kubectl (Debian package kubernetes-client)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    kubernetes-client >/dev/null; \
	fi
	@# ruby evaluates the generated Fluentd record_transformer expressions in the tests (skipped without it)
	@if ! command -v ruby >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing ruby (Debian package ruby)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    ruby >/dev/null; \
	fi

# Each is made whole or made again: the stamp is written last, after a clean start.
$(ES_TYPES)/.installed:
	@command -v npm >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing npm (Debian package npm)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; \
	  else echo "npm is missing: install Node.js and npm, then re-run make"; exit 1; fi; }
	rm -rf $(ES_TYPES) && mkdir -p $(ES_TYPES)
	npm install --prefix $(ES_TYPES) --no-audit --no-fund --silent --save-exact \
	  '@elastic/elasticsearch@$(ES_TYPES_VERSION)' 'typescript@$(TYPESCRIPT_VERSION)'
	@touch $@

$(CHECKOV_HOME)/.installed:
	rm -rf $(CHECKOV_HOME)
	$(PYTHON) -m venv $(CHECKOV_HOME)
	$(CHECKOV_HOME)/bin/pip install --quiet --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)'
	@touch $@

# Regenerate the committed golden output of the example spec; review the diff before committing.
regen: install
	$(BIN)/llmmon generate $(SPEC) -o out

# Rewrite the spec reference in docs/spec.md from llmmon/spec.py; a test fails when it is stale.
docs: install
	$(BIN)/python -m llmmon.reference

bench: install
	$(BIN)/python bench/generate.py

# What `llmmon validate` costs at 1, 10 and 100 models, and promtool's generated tests within it (about 1 min).
bench-validate: install tools
	$(BIN)/python -m bench.validate

# The incident library replayed against llmmon's rules and the design's (promtool; about 30 min on 2 cores).
bench-alerting: install tools
	$(BIN)/python -m bench.alerting

# Rule-evaluation cost on a real Prometheus at 10, 100 and 500 models with a week of history (about 1 h).
bench-cost: install tools
	$(BIN)/python -m bench.rule_cost

# CPU cost of llmmon.instrument per request and per streamed token, against bare prometheus_client calls (~20 s).
bench-instrument: install
	$(BIN)/python -m bench.instrument

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
