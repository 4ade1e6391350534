"""Integration fixtures: the real local stack (`python -m infra.local_stack`, what `make run`
starts) in a subprocess on free ports, and a small HTTP client that talks to it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "integration-admin-password"
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Http:
    """JSON over HTTP, a new connection per request (keep-alive stalls chalice local)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        sent = {"Connection": "close", **(headers or {})}
        if body is not None or raw is not None:
            sent["Content-Type"] = "application/json"
        if token:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = requests.request(
            method, self.base_url + path, data=data, headers=sent, timeout=30
        )
        return Reply(response.status_code, response.headers, response.content)

    def login(self, email: str, password: str) -> dict[str, Any]:
        reply = self.call("POST", "/auth/login", {"email": email, "password": password})
        assert reply.status == 200, reply.body
        return reply.json


@dataclass
class Stack:
    backend: str
    base_url: str
    emulator_url: str
    dynamodb_url: str
    process: subprocess.Popen
    http: Http

    def admin_token(self) -> str:
        return self.http.login(ADMIN_EMAIL, ADMIN_PASSWORD)["access_token"]


def start_stack(backend: str, **extra_env: str) -> Stack:
    api_port, emulator_port, dynamodb_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "PORT": str(api_port),
        "AWS_EMULATOR_PORT": str(emulator_port),
        "DYNAMODB_LOCAL_PORT": str(dynamodb_port),
        "LOCAL_DB": backend,
        "ADMIN_EMAIL": ADMIN_EMAIL,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "CHECK_INTERVAL": "3600",  # tests trigger checks themselves
        **extra_env,
    }
    for name in ("JWT_KEYS", "TABLE_PREFIX", "SCRYPT_N", "DYNAMODB_ENDPOINT", "SES_ENDPOINT"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local_stack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise RuntimeError("local stack exited:\n" + "".join(seen))
        seen.append(line)
        if "local stack ready" in line:
            break
    else:
        process.kill()
        raise TimeoutError("local stack not ready:\n" + "".join(seen))
    # Drain the output into a log file (read it when a test fails) so the stack never blocks.
    import tempfile
    import threading

    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (open for the stack's whole life)
        "w", prefix=f"local-stack-{backend}-", suffix=".log", delete=False
    )
    log.writelines(seen)

    def drain() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            log.write(line)
            log.flush()

    threading.Thread(target=drain, daemon=True).start()
    print(f"local stack ({backend}) log: {log.name}")
    base_url = f"http://127.0.0.1:{api_port}"
    emulator_url = f"http://127.0.0.1:{emulator_port}"
    dynamodb_url = emulator_url if backend == "moto" else f"http://127.0.0.1:{dynamodb_port}"
    return Stack(backend, base_url, emulator_url, dynamodb_url, process, Http(base_url))


def stop_stack(stack: Stack) -> int:
    stack.process.send_signal(signal.SIGTERM)
    return stack.process.wait(timeout=30)


def require_backend(backend: str) -> None:
    """Fail (never skip) with a clear message when a backend cannot run on this machine."""
    if backend == "dynamodb-local":
        from infra import dynamodb_local

        try:
            dynamodb_local.find_java()
            dynamodb_local.find_home()
        except dynamodb_local.DynamoDBLocalUnavailable as error:
            pytest.fail(f"backend dynamodb-local cannot run: {error}", pytrace=False)


@pytest.fixture(scope="session", params=BACKENDS)
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    require_backend(request.param)
    running = start_stack(request.param)
    yield running
    assert stop_stack(running) == 0


@pytest.fixture()
def http(stack: Stack) -> Http:
    return stack.http


@pytest.fixture()
def admin(stack: Stack) -> str:
    return stack.admin_token()


_users = iter(range(10**6))


def new_user(http: Http, admin_token: str, role: str) -> tuple[str, str]:
    """A user of `role` via the API; returns (id, access token)."""
    email = f"{role}-{next(_users)}-{time.monotonic_ns()}@example.com"
    body = {"email": email, "password": "password123", "name": f"A {role}", "role": role}
    reply = http.call("POST", "/users", body, admin_token)
    assert reply.status == 201, reply.body
    return reply.json["id"], http.login(email, "password123")["access_token"]


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
