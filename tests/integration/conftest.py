"""Integration fixtures: the real local stack (tests/stack.py: `python -m infra.local_stack`,
what `make run` starts) once per backend, and its HTTP client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.stack import Http, Stack, start_stack, stop_stack

# Backends the integration suite runs on; each test runs once per backend (one stack each).
# Both by default, as in `make test` and CI: INTEGRATION_BACKENDS=moto narrows it for a quick run.
KNOWN_BACKENDS = ("moto", "dynamodb-local")
BACKENDS = [
    name.strip()
    for name in os.environ.get("INTEGRATION_BACKENDS", ",".join(KNOWN_BACKENDS)).split(",")
    if name.strip()
]
_unknown = sorted(set(BACKENDS) - set(KNOWN_BACKENDS))
if _unknown:
    raise pytest.UsageError(
        f"INTEGRATION_BACKENDS: unknown backend(s) {_unknown}; choose from {list(KNOWN_BACKENDS)}"
    )


def require_backend(backend: str) -> None:
    """Fail (never skip) with a clear message when a backend cannot run on this machine."""
    if backend == "dynamodb-local":
        from infra import dynamodb_local

        try:
            dynamodb_local.find_java()
            dynamodb_local.find_home()
        except dynamodb_local.DynamoDBLocalUnavailable as error:
            pytest.fail(f"backend dynamodb-local cannot run: {error}", pytrace=False)


# The origins the shared stack lets browsers read from (test_cors_http). Harmless to the other
# tests: an answer to a request without a listed Origin gets no CORS header (only Vary).
CORS_ORIGINS = ("http://shop.test", "http://console.test")


@pytest.fixture(scope="session", params=BACKENDS)
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    require_backend(request.param)
    running = start_stack(request.param, CORS_ORIGINS=",".join(CORS_ORIGINS))
    yield running
    assert stop_stack(running) == 0


@pytest.fixture()
def http(stack: Stack) -> Http:
    return stack.http


@pytest.fixture()
def admin(stack: Stack) -> str:
    return stack.admin_token()


@pytest.fixture()
def allowed_origins() -> tuple[str, ...]:
    return CORS_ORIGINS


# How many tests ran on each backend, in the closing lines of every run that used a stack.
_backend_of: dict[str, str] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "stack" in callspec.params:
            _backend_of[item.nodeid] = callspec.params["stack"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _backend_of:
        return
    counts: dict[str, dict[str, int]] = {name: {} for name in BACKENDS}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            backend = _backend_of.get(getattr(report, "nodeid", ""))
            if backend is not None and getattr(report, "when", "call") in ("call", "setup"):
                if outcome == "passed" and report.when != "call":
                    continue
                per = counts.setdefault(backend, {})
                per[outcome] = per.get(outcome, 0) + 1
    terminalreporter.section("integration tests per backend")
    for backend, per in counts.items():
        shown = ", ".join(f"{n} {outcome}" for outcome, n in per.items()) or "none ran"
        terminalreporter.write_line(f"{backend}: {shown}")
