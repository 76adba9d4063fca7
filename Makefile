# deepatoms: `make run` installs and runs every atom, `make test` installs and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast claims bench report clean browser

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,parquet,mlflow,ray,serve]'
	touch $(STAMP)

# The report is written even when the run fails or is interrupted (Ctrl-C, SIGTERM): it shows
# what was stored; then make exits with the run's status.
run: install
	@rc=0; trap 'rc=130' INT TERM; $(BIN)/deepatoms run --all || rc=$$?; \
	$(BIN)/deepatoms report || [ $$rc -ne 0 ] || rc=1; exit $$rc

# both tiers: unit/common checks and the claim tests (default configurations): ≈ 30–45 min on 2 cores
# (tests/execution/test_executors_ray.py starts a Ray cluster on loopback: the `ray` extra is installed)
test: install browser
	$(BIN)/python -m pytest -n 2 -q --claims

test-fast: install browser
	$(BIN)/python -m pytest -n 2 -q

claims: install
	$(BIN)/python -m pytest -n 2 -q --claims -m claim

bench: install
	$(BIN)/deepatoms bench

report: install
	$(BIN)/deepatoms report

# tests/report/test_browser.py renders the report in headless Chromium (Debian's `chromium`): install it
# when it is missing and apt-get can (as root); otherwise that test is skipped, with a message.
APT := DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o Acquire::Retries=0 \
	-o Acquire::http::Timeout=20 -o Acquire::https::Timeout=20
browser:
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ]; then echo "installing chromium for tests/report/test_browser.py"; \
	  $(APT) install chromium >/dev/null 2>&1 || \
	  { $(APT) update >/dev/null 2>&1 && $(APT) install chromium >/dev/null 2>&1; } || \
	  echo "note: could not install chromium; tests/report/test_browser.py will be skipped"; \
	else echo "note: chromium is missing (as root: apt-get install chromium); tests/report/test_browser.py will be skipped"; fi

clean:
	rm -rf $(VENV) deepatoms-runs .pytest_cache
