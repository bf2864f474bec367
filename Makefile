# Academy Ops. `make run` starts the whole local stack; `make test` runs the whole suite.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins its own boto3, so it lives in a venv of its own (requirements-tools.txt).
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
PORT ?= 8000
# Python 3.12 (the Lambda runtime). Found on PATH, or through pyenv when its shim is not active.
PYTHON312 := $(shell scripts/find-python312)

.PHONY: run test lint bench package clean venv tools fuzz load screenshots layer rehearse rehearse-test

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: install it (e.g. pyenv install 3.12) and retry." >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON312) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip<26.3" 2>&1 | grep -v '^WARNING: Location' || true
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt 2>&1 | grep -v '^WARNING: Location' ; test $${PIPESTATUS[0]} -eq 0
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 | grep -v '^WARNING: Location' ; test $${PIPESTATUS[0]} -eq 0
	@touch $(STAMP)

tools: $(TOOLS_STAMP)

$(TOOLS_STAMP): requirements-tools.txt
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: install it (e.g. pyenv install 3.12) and retry." >&2; exit 1; }
	@test -x $(TOOLS)/bin/python || $(PYTHON312) -m venv $(TOOLS)
	@$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip<26.3" 2>&1 | grep -v '^WARNING: Location' || true
	@$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-tools.txt 2>&1 | grep -v '^WARNING: Location' ; test $${PIPESTATUS[0]} -eq 0
	@touch $(TOOLS_STAMP)

run: venv
	$(BIN)/academy up --port $(PORT)

# The package test runs checkov from .venv-tools on the packaged template (it fails, not skips, when told where it is).
test: venv tools
	ACADEMY_CHECKOV=$(TOOLS)/bin/checkov $(BIN)/python -m pytest

# ruff, and mypy --strict over chalicelib/ (pyproject.toml [tool.mypy]); CI runs it before the suite.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: venv
	$(BIN)/python -m bench

# API fuzzing, deeper than make test's pass: more examples, fresh randomness, invalid inputs too.
FUZZ_EXAMPLES ?= 150
fuzz: venv
	ACADEMY_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) ACADEMY_FUZZ_DEEP=1 $(BIN)/python -m pytest tests/e2e/test_api_fuzz.py -s --timeout=0

# Mixed traffic against a local stack on free ports: LOAD_ARGS="--clients 50 --duration 60" (python -m loadtest -h).
LOAD_ARGS ?=
load: venv
	$(BIN)/python -m loadtest $(LOAD_ARGS)

layer: venv
	$(BIN)/python layers/ffmpeg/build.py

package: venv
	$(BIN)/academy package --out build/package

# Deploy rehearsal (README: Rehearse a deploy): the packaged artifact deployed into the emulator and run
# as AWS would, on :$(PORT) (root) and :$(PORT)/api (stage path). REHEARSE_ARGS="--ephemeral", "--stage x" …
REHEARSE_PACKAGE := build/rehearse-package
REHEARSE_ARGS ?=
LAYER_ZIP := layers/ffmpeg/build/ffmpeg-layer.zip
$(LAYER_ZIP): layers/ffmpeg/build.py layers/ffmpeg/requirements.txt | venv
	$(BIN)/python layers/ffmpeg/build.py

rehearse: venv $(LAYER_ZIP)
	$(BIN)/python -m academy_cli.rehearse.tools
	$(BIN)/academy up --rehearse --port $(PORT) $(REHEARSE_ARGS)

# The end-to-end suite, the schemathesis pass and the rehearsal's own tests (smoke, console in Chromium)
# against rehearsals of one package (every spawned stack is a rehearsal reached under /api).
rehearse-test: venv $(LAYER_ZIP)
	$(BIN)/python -m academy_cli.rehearse.tools
	$(BIN)/academy package --out $(REHEARSE_PACKAGE)
	ACADEMY_REHEARSE_PACKAGE=$(CURDIR)/$(REHEARSE_PACKAGE) $(BIN)/python -m pytest tests/rehearse tests/e2e

# Every console page at desktop and phone width (PNG files in screenshots/, not committed); needs /usr/bin/chromium.
screenshots: venv
	$(BIN)/python -m tests.browser.screenshots --out screenshots

clean:
	rm -rf $(VENV) $(TOOLS) build .pytest_cache .ruff_cache
