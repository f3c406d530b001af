# Encore: `make run` starts the whole site, `make test` runs the whole suite.
# Both create .venv and install requirements.txt first when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test test-fast lint venv migrate

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

migrate: venv
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py serve

# The whole suite, slow tests (real servers, crashes, browser) included.
test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

# While working: everything but the slow tests.
test-fast: venv
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
