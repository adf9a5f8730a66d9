# Two commands do all the set-up: `make run` (index the catalog if needed, then serve) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.shoplens-installed

.PHONY: install run test bench clean

install: $(STAMP)

# Re-installs only when pyproject.toml changes, so a second `make install` returns at once.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# The first run may download the default CLIP weights (about 600 MB) when the machine is online.
run: install
	SHOPLENS_ALLOW_DOWNLOAD=$${SHOPLENS_ALLOW_DOWNLOAD:-1} $(BIN)/shoplens run

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/embed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
