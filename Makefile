# Two commands do all the set-up: `make run` (index the catalog if needed, then serve) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.shoplens-installed
# npm's own record of what `npm ci` installed: newer than package-lock.json once the browser packages are in.
WEB_STAMP := node_modules/.package-lock.json

.PHONY: install run test bench clean

install: $(STAMP) $(WEB_STAMP)

# Re-installs only when pyproject.toml changes, so a second `make install` returns at once.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# Browser packages the page serves itself (live try-on's MediaPipe Face Mesh), exactly as package-lock.json pins them.
$(WEB_STAMP): package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the live try-on's browser packages (apt-get install npm)"; exit 1; }
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

# The first run may download the default CLIP weights (about 600 MB) when the machine is online.
run: install
	SHOPLENS_ALLOW_DOWNLOAD=$${SHOPLENS_ALLOW_DOWNLOAD:-1} $(BIN)/shoplens run

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/embed.py

clean:
	rm -rf $(VENV) node_modules build *.egg-info .pytest_cache
