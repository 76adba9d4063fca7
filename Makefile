# deepatoms: `make run` installs and runs every atom, `make test` installs and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast claims bench report clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,parquet,mlflow,ray]'
	touch $(STAMP)

run: install
	$(BIN)/deepatoms run --all
	$(BIN)/deepatoms report

# both tiers: unit/common checks and the claim tests (default configurations, 5 seeds): ~6 min on 2 cores
# (tests/test_executors_ray.py starts a Ray cluster on loopback: the `ray` extra is installed)
test: install
	$(BIN)/python -m pytest -n 2 -q --claims

test-fast: install
	$(BIN)/python -m pytest -n 2 -q

claims: install
	$(BIN)/python -m pytest -n 2 -q --claims -m claim

bench: install
	$(BIN)/deepatoms bench

report: install
	$(BIN)/deepatoms report

clean:
	rm -rf $(VENV) deepatoms-runs .pytest_cache
