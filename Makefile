# deepatoms: `make run` installs and runs every atom, `make test` installs and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test claims bench report clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,parquet]'
	touch $(STAMP)

run: install
	$(BIN)/deepatoms run --all
	$(BIN)/deepatoms report

test: install
	$(BIN)/python -m pytest -n 2 -q

claims: install
	$(BIN)/python -m pytest -n 2 -q --claims -m claim

bench: install
	$(BIN)/deepatoms bench

report: install
	$(BIN)/deepatoms report

clean:
	rm -rf $(VENV) deepatoms-runs .pytest_cache
