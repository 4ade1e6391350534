"""Unit fixtures: moto in process, the Chalice test client, users of each role."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.auth import keys, users
from chalicelib.settings import reset_settings
from chalicelib.store import db
from infra import gateway_shim

gateway_shim.install()

_counter = itertools.count()


@pytest.fixture()
def aws() -> Iterator[None]:
    reset_settings()
    keys.forget_keys()
    db.unbind()
    with mock_aws():
        db.create_tables()
        yield
    db.unbind()


@pytest.fixture()
def client(aws: None) -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="local") as test_client:
        yield test_client


class Api:
    """A thin JSON client over chalice's test client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> Any:
        import json

        sent = {"Content-Type": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = getattr(self.client.http, method.lower())(path, headers=sent, body=payload)
        return Reply(response.status_code, response.headers, response.body)

    def login(self, email: str, password: str) -> dict[str, Any]:
        reply = self.call("POST", "/auth/login", {"email": email, "password": password})
        assert reply.status == 200, reply.json
        return reply.json


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self) -> Any:
        import json

        return json.loads(self.body) if self.body else None


@pytest.fixture()
def api(client: Client) -> Api:
    return Api(client)


def make_user(role: str, password: str = "password123") -> tuple[str, str]:
    email = f"{role}{next(_counter)}@example.com"
    user = users.create_user(email, password, f"A {role}", role)
    return user.id, email


@pytest.fixture()
def tokens(api: Api) -> dict[str, str]:
    """An access token per role."""
    result = {}
    for role in ("admin", "staff", "customer"):
        _, email = make_user(role)
        result[role] = api.login(email, "password123")["access_token"]
    return result
