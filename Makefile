# The two commands of the README: `make run` starts the system, `make test` runs every test.
# Each installs what it needs: uv (from PyPI) and the locked Python dependencies.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PORT ?= 8080

.PHONY: run test services deps lint openapi bench

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet --break-system-packages uv

deps: $(UV)
	$(UV) sync --frozen --quiet

run: deps
	@command -v nginx >/dev/null || { echo "nginx (the local gateway) is missing: run 'make services' first"; exit 1; }
	$(UV) run ethsource run --port $(PORT)

services:
	local/services.sh

test: deps
	local/services.sh
	$(UV) run ruff check .
	$(UV) run pytest

openapi: deps
	$(UV) run ethsource openapi --output local/gateway/openapi.json
