"""Unit fixtures: moto in process, the Chalice test client, users of each role."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from chalice.test import Client
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.botocore_stubber import BotocoreStubber
from moto.dynamodb.models import dynamodb_backends
from moto.ses.models import ses_backends

from chalicelib import clock
from chalicelib.auth import keys
from chalicelib.settings import get_settings, reset_settings
from chalicelib.store import db
from infra import gateway_shim
from tests.unit.helpers import Api, make_user

gateway_shim.install()


@pytest.fixture(scope="module")
def moto_module() -> Iterator[None]:
    """One moto per test module: starting it and creating ten tables costs ~0.4 s."""
    reset_settings()
    keys.forget_keys()
    db.unbind()
    with mock_aws():
        db.create_tables()
        yield
    db.unbind()


def empty_tables() -> None:
    # moto's in-memory tables, cleared directly (indexes are computed from the items, so they
    # empty with them); through the API it would cost ~40 ms a test.
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][get_settings().region]
    for table in backend.tables.values():
        table.items.clear()


@pytest.fixture()
def aws(moto_module: None) -> Iterator[None]:
    """Empty tables for every test, in the module's moto."""
    empty_tables()
    reset_settings()
    get_settings()  # read outside a request (chalice applies stage variables only inside one)
    keys.forget_keys()
    yield


@pytest.fixture()
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make each moto request atomic, as every DynamoDB request is.

    In process, moto applies a transaction item by item and rolls back by restoring whole
    tables, so two threads' requests could pass one condition together or lose each other's
    writes; real DynamoDB serializes them. Our code still runs concurrently between requests.
    """
    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def one_at_a_time(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", one_at_a_time)


@pytest.fixture()
def client(aws: None) -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="local") as test_client:
        yield test_client


@pytest.fixture()
def api(client: Client) -> Api:
    return Api(client)


@pytest.fixture()
def tokens(api: Api) -> dict[str, str]:
    """An access token per role."""
    result = {}
    for role in ("admin", "staff", "customer"):
        _, email = make_user(role)
        result[role] = api.login(email, "password123")["access_token"]
    return result


@pytest.fixture()
def ses(aws: None) -> Iterator[None]:
    """A fresh SES client (no hooks left from other tests), the verified sender moto requires,
    and no mail left from earlier tests."""
    from chalicelib import mail

    mail.forget_client()
    mail.client().verify_email_identity(EmailAddress=get_settings().alert_sender)
    ses_backends[DEFAULT_ACCOUNT_ID][get_settings().region].sent_messages.clear()
    yield
    mail.forget_client()


@pytest.fixture()
def admin(ses: None) -> str:
    """An admin's email (low-stock mail goes to the admins)."""
    _, email = make_user("admin")
    return email


class Clock:
    """Stands in for chalicelib.clock.now: every window and expiry is measured with it."""

    def __init__(self) -> None:
        self.time = time.time()

    def __call__(self) -> float:
        return self.time


@pytest.fixture()
def frozen() -> Iterator[Clock]:
    """Time that moves only when a test moves it (`frozen.time += seconds`)."""
    fake = Clock()
    with mock.patch.object(clock, "now", fake):
        yield fake
