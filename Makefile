# Two commands do everything: `make run` (the demo) and `make test` (the tests).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
# What the services run with (make run), and that plus the test tools (make test and the rest).
RUNTIME := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed-test
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

CHROMIUM := /usr/bin/chromium
GO ?= go

LOAD_HOST ?= http://localhost:5000
LOAD_USERS ?= 10
LOAD_TIME ?= 60s
LOCUSTFILE := loadgen/locustfile.py
# The test modules run on this many pytest-xdist workers (0: one at a time). Much of the
# end-to-end tests' time is waiting on processes, so four keep two cores busy.
TEST_WORKERS ?= 4

.PHONY: run test test-unit screenshots load bench soak lint typecheck format lock clean test-tools bundle \
	backends

# Ctrl-C (SIGINT to the process group) or SIGTERM to make stops every service gracefully.
run: $(RUNTIME) .env
	$(PY) -m shared.launch.local

# Lint, types, then every test on parallel workers: the fast unit tests (no process, no network)
# and the end-to-end tests (real gunicorn services, MariaDB and SQLite, an OTLP receiver, the
# real Collector and Jaeger, Chromium). It ends with the 15 slowest steps. With Go on PATH it
# builds the Collector and Jaeger first (`make backends`: nothing to do once built); without
# Go, their tests skip.
HAVE_GO := $(shell command -v $(GO) 2>/dev/null)
test: $(STAMP) $(if $(HAVE_GO),backends)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	@$(MAKE) --no-print-directory test-tools
	$(PY) -m pytest tests -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15 \
		$(PYTEST_ARGS)

# The pictures in docs/ (docs/*.png), taken from the real demo in headless Chromium.
screenshots: $(STAMP) test-tools
	$(PY) -m tests.screenshots

# Only the unit tests: what to run while editing.
test-unit: $(STAMP)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# Shoppers against a running demo (`make run` in another terminal): headless, bounded, summary.
load: $(STAMP)
	$(PY) -m locust --locustfile $(LOCUSTFILE) --headless --users $(LOAD_USERS) \
		--spawn-rate 5 --run-time $(LOAD_TIME) --host $(LOAD_HOST) --only-summary

# What telemetry costs: each flow untraced, with the project's telemetry and with the distro's
# defaults (its own venv, bench/.venv-distro), against MySQL (the local MariaDB, or
# BENCH_DATABASE_URL), driven by Debian's hey. Prints tables, writes bench/results/*.json.
# BENCH_ARGS=--smoke: one short round, to check that it works.
bench: $(STAMP)
	@command -v hey >/dev/null || { \
		echo "installing Debian's hey for the benchmark"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hey >/dev/null; \
	}
	$(PY) -m bench.run $(BENCH_ARGS)

# Does anything drift? The demo (three services and the frontend server) against MySQL (the
# local MariaDB, or SOAK_DATABASE_URL) under Locust's shoppers at a constant pace for
# SOAK_MINUTES: each process's memory, p95 per flow, errors, spans and rows every minute, the
# pass criteria at the end (exit 1 if one fails). Writes bench/results/soak-<time>.json and .png.
SOAK_MINUTES ?= 30
soak: $(STAMP)
	$(PY) -m bench.soak --minutes $(SOAK_MINUTES) $(SOAK_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

typecheck: $(STAMP)
	$(PY) -m mypy

# A virtualenv with the pinned versions of requirements.lock (the services' own dependencies:
# what make run needs); the test tools of requirements-dev.lock are added for make test.
# pip's output goes to $(VENV)/install.log and is shown only if the install fails.
$(RUNTIME): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing the services' dependencies into $(VENV) (log: $(VENV)/install.log)"
	@{ $(PIP) --upgrade pip && $(PIP) -c requirements.lock -e . ; } > $(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; exit 1; }
	touch $@

$(STAMP): $(RUNTIME) requirements-dev.lock
	@echo "adding the test tools to $(VENV) (log: $(VENV)/install.log)"
	@$(PIP) -c requirements-dev.lock -e '.[test]' >> $(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; exit 1; }
	touch $@

.env:
	cp .env.example .env

# The end-to-end tests drive Debian's Chromium (a browser download would fail offline), run
# the frontend image's nginx config with Debian's nginx, and smoke-run the benchmark with hey.
test-tools:
	@missing=""; \
	test -x $(CHROMIUM) || missing="chromium"; \
	test -x /usr/sbin/nginx || missing="$$missing nginx-light"; \
	command -v hey >/dev/null || missing="$$missing hey"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages for the tests:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The real OpenTelemetry Collector and Jaeger, built from their Go modules into var/bin (static
# binaries; docs/backends.md). Each is rebuilt only when its module files or this file change.
COLLECTOR_BUILDER := go.opentelemetry.io/collector/cmd/builder@v0.161.0
JAEGER_VERSION := v2.12.0
backends: var/bin/otelcol-contrib var/bin/jaeger

# The builder writes the sources, tidies go.mod and go.sum (kept in git) and compiles.
var/bin/otelcol-contrib: backends/collector/manifest.yaml backends/collector/dist/go.mod \
		backends/collector/dist/go.sum Makefile
	GOBIN=$(abspath var/bin/tools) $(GO) install $(COLLECTOR_BUILDER)
	cd backends/collector && CGO_ENABLED=0 $(abspath var/bin/tools)/builder --config manifest.yaml
	install -D backends/collector/dist/otelcol-contrib $@

# Jaeger v2 is module github.com/jaegertracing/jaeger v1.75.0, a tool of backends/jaeger's module
# (which carries the release's own `replace` of sarama, so it links what the release links).
var/bin/jaeger: backends/jaeger/go.mod backends/jaeger/go.sum Makefile
	cd backends/jaeger && CGO_ENABLED=0 $(GO) build -trimpath -o $(abspath $@) -ldflags \
		"-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=$(JAEGER_VERSION)" \
		github.com/jaegertracing/jaeger/cmd/jaeger

# Rebuild frontend/static/otel-tracing.js from frontend/package-lock.json (needs Node and npm).
bundle:
	cd frontend && npm ci --no-audit --no-fund && npm run build

# Re-pin the dependencies after changing pyproject.toml: requirements.lock holds what the
# services run with (the container image installs exactly it), requirements-dev.lock adds
# the test tools.
lock:
	rm -rf build/lock-venv
	$(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install --quiet --upgrade pip
	build/lock-venv/bin/pip install --quiet .
	build/lock-venv/bin/pip freeze | grep -v '^tracing-demo' > requirements.lock
	build/lock-venv/bin/pip install --quiet '.[test]'
	build/lock-venv/bin/pip freeze | grep -v '^tracing-demo' > requirements-dev.lock
	rm -rf build

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
