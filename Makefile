# AutoMart. `make run`: the local stack. `make test`: everything CI checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AWS_EMULATOR_PORT ?= 5000
export PORT ?= 8000

.PHONY: venv run test unit integration

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q 'pip<26.3'
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/python -m infra.local_stack

unit: venv
	$(BIN)/python -m pytest tests/unit -q

integration: venv
	$(BIN)/python -m pytest tests/integration -q

test: venv
	$(BIN)/python -m pytest tests -q

# Packaging and deployment targets (issue 5) live in their own file.
-include infra/package.mk
