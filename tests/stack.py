"""The real local stack (`python -m infra.local_stack`, what `make run` starts) in a subprocess on
free ports, and a small HTTP client that talks to it.

Shared by the integration, contract and browser tests and the benchmarks; the pytest fixtures
that start it per backend are in tests/integration/conftest.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "integration-admin-password"
# How long one request may take before the client gives up (a stalled server fails the test).
REQUEST_TIMEOUT_SECONDS = 30.0
# The line infra/local_stack.py prints before it is ready.
PIDS_LINE = re.compile(r"local stack pids: stack (\d+), emulator (\d+), database (\d+)")


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


class JsonClient(ABC):
    """A JSON API client: a body as JSON, a token as Bearer; `send` is the transport."""

    base_headers: dict[str, str] = {}

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> Reply:
        sent = {**self.base_headers, **(headers or {})}
        if body is not None or raw is not None:
            sent.setdefault("Content-Type", "application/json")
        if token:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.send(method, path, sent, data, timeout)

    @abstractmethod
    def send(
        self, method: str, path: str, headers: dict[str, str], data: Any, timeout: float
    ) -> Reply:
        """The transport: HTTP (Http) or chalice's test client (tests/unit/helpers.Api)."""

    def login(self, email: str, password: str) -> dict[str, Any]:
        reply = self.call("POST", "/auth/login", {"email": email, "password": password})
        assert reply.status == 200, reply.body
        return reply.json


class Http(JsonClient):
    """JSON over HTTP, a new connection per request (keep-alive stalls chalice local)."""

    base_headers = {"Connection": "close"}

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def send(
        self, method: str, path: str, headers: dict[str, str], data: Any, timeout: float
    ) -> Reply:
        response = requests.request(
            method, self.base_url + path, data=data, headers=headers, timeout=timeout
        )
        return Reply(response.status_code, response.headers, response.content)


@dataclass
class Stack:
    backend: str
    base_url: str
    emulator_url: str
    dynamodb_url: str
    process: subprocess.Popen
    http: Http
    emulator_pid: int  # moto server (SES, SSM; DynamoDB too with the moto backend)
    database_pid: int  # the process serving DynamoDB: moto server or DynamoDB Local's JVM

    def admin_token(self) -> str:
        return self.http.login(ADMIN_EMAIL, ADMIN_PASSWORD)["access_token"]

    @contextmanager
    def database_paused(self) -> Iterator[None]:
        """The DynamoDB process stopped (SIGSTOP): it accepts connections, never answers.
        Always resumed (SIGCONT) on the way out, also when the body fails."""
        os.kill(self.database_pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.database_pid, signal.SIGCONT)


# The unit-test environment (tests/conftest.py) is not the stack's: it runs with the defaults.
UNIT_ONLY_ENV = (
    "JWT_KEYS",
    "TABLE_PREFIX",
    "ARGON2_MEMORY_KIB",
    "ARGON2_TIME_COST",
    "RESET_ANSWER_SECONDS",
    "DYNAMODB_ENDPOINT",
    "SES_ENDPOINT",
)


def start_stack(backend: str, **extra_env: str) -> Stack:
    api_port, emulator_port, dynamodb_port = free_port(), free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in UNIT_ONLY_ENV},
        "PORT": str(api_port),
        "AWS_EMULATOR_PORT": str(emulator_port),
        "DYNAMODB_LOCAL_PORT": str(dynamodb_port),
        "LOCAL_DB": backend,
        "ADMIN_EMAIL": ADMIN_EMAIL,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "CHECK_INTERVAL": "3600",  # tests trigger checks themselves
        **extra_env,
    }
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
    pids: tuple[int, int] | None = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise RuntimeError("local stack exited:\n" + "".join(seen))
        seen.append(line)
        found = PIDS_LINE.search(line)
        if found:
            pids = (int(found[2]), int(found[3]))
        if "local stack ready" in line:
            break
    else:
        process.kill()
        raise TimeoutError("local stack not ready:\n" + "".join(seen))
    if pids is None:
        process.kill()
        raise RuntimeError("local stack printed no pids line:\n" + "".join(seen))
    # Drain the output into a log file (read it when a test fails) so the stack never blocks.
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
    return Stack(
        backend, base_url, emulator_url, dynamodb_url, process, Http(base_url), pids[0], pids[1]
    )


def stop_stack(stack: Stack) -> int:
    stack.process.send_signal(signal.SIGTERM)
    return stack.process.wait(timeout=30)


_users = iter(range(10**6))


def all_pages(http: Http, path: str, token: str) -> list[dict]:
    """Every item of a list, following next_cursor to the end."""
    items, cursor = [], None
    while True:
        query = f"?limit=100&cursor={cursor}" if cursor else "?limit=100"
        reply = http.call("GET", path + query, token=token)
        assert reply.status == 200, reply.body
        items += reply.json["items"]
        cursor = reply.json["next_cursor"]
        if cursor is None:
            return items


def ledger_sum(http: Http, admin: str, sku: str) -> int:
    """The contract's invariant over HTTP: stock == this sum of the product's movements."""
    return sum(m["quantity_change"] for m in all_pages(http, f"/products/{sku}/movements", admin))


def new_user(http: Http, admin_token: str, role: str) -> tuple[str, str]:
    """A user of `role` via the API; returns (id, access token)."""
    user_id, email = new_account(http, admin_token, role)
    return user_id, http.login(email, "password123")["access_token"]


def new_account(http: Http, admin_token: str, role: str) -> tuple[str, str]:
    """A user of `role` via the API, password "password123"; returns (id, email)."""
    email = f"{role}-{next(_users)}-{time.monotonic_ns()}@example.com"
    body = {"email": email, "password": "password123", "name": f"A {role}", "role": role}
    reply = http.call("POST", "/users", body, admin_token)
    assert reply.status == 201, reply.body
    return reply.json["id"], email


# ---- the management command ------------------------------------------------------------------


def run_cli(
    stack: Stack, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """The command against `stack`; stdout and stderr as text, line ends as written."""
    dynamodb = [] if stack.backend == "moto" else ["--dynamodb", stack.dynamodb_url]
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "--emulator", stack.emulator_url, *dynamodb, *args],
        cwd=ROOT,
        capture_output=True,
        timeout=300,
        env=env,
    )
    result.stdout = result.stdout.decode("utf-8")
    result.stderr = result.stderr.decode("utf-8")
    return result


def cli(stack: Stack, *args: str) -> str:
    result = run_cli(stack, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout
