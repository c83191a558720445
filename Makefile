# The two commands of the README: `make run` starts the system, `make test` runs every test.
# Each installs what it needs: uv (from PyPI), the locked Python dependencies, and through local/services.sh
# MariaDB, RabbitMQ and nginx (Debian packages), started when they are down.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PORT ?= 8080

.PHONY: run test audit services deps lint openapi bench observe layer-requirements

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet --break-system-packages uv

deps: $(UV)
	$(UV) sync --frozen --quiet

run: deps
	local/services.sh --minimal
	$(UV) run ethsource run --port $(PORT)

services:
	local/services.sh

test: deps audit
	local/services.sh
	$(UV) sync --frozen --quiet --group load  # tests/integration/test_load_script.py runs the load script
	$(UV) run ruff check .
	$(UV) run cfn-lint template.yaml
	$(UV) run pytest --durations=15  # and the 15 slowest tests

# Known vulnerabilities in every locked dependency, all groups (pip-audit, with PyPI's advisory data for each
# pinned version). A finding fails: raise the pin (`uv lock --upgrade-package X`), or add `--ignore-vuln ID`
# to AUDIT_IGNORE with the reason on a comment line above it. None is ignored today.
# Where PyPI does not serve its per-version JSON (a PyPI mirror that serves only the package index), pip-audit
# lists each package under "could not be audited" and passes; AUDIT_FLAGS=--strict fails the run instead.
AUDIT_IGNORE :=
AUDIT_FLAGS ?=
audit: deps
	$(UV) export --quiet --frozen --all-groups --format requirements-txt --no-emit-project \
		| $(UV) run --frozen pip-audit --disable-pip --progress-spinner off -r /dev/stdin $(AUDIT_IGNORE) $(AUDIT_FLAGS)

openapi: deps
	$(UV) run ethsource openapi --output local/gateway/openapi.json

# The Lambda layer's dependencies (template.yaml builds shared/ with them), exported from the lock.
layer-requirements: $(UV)
	$(UV) export --quiet --frozen --no-dev --no-emit-project --no-hashes --output-file shared/requirements.txt

# Not a test: the HTTP ceiling, submit alone, then the peak load end to end (load/bench.py; BENCH_ARGS=--quick).
bench: deps
	local/services.sh
	@command -v wrk >/dev/null || apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }
	PATH="$(dir $(UV)):$$PATH" $(UV) run --group load python -m load.bench $(BENCH_ARGS)

# Prometheus, Alertmanager and node-exporter (Debian packages, installed by services.sh) watching `make run`.
PROMETHEUS_PORT ?= 9090
ALERTMANAGER_PORT ?= 9093
NODE_EXPORTER_PORT ?= 9100
observe: deps
	local/services.sh
	$(UV) run python observability/observe.py --gateway-port $(PORT) --prometheus-port $(PROMETHEUS_PORT) \
		--alertmanager-port $(ALERTMANAGER_PORT) --node-exporter-port $(NODE_EXPORTER_PORT)
