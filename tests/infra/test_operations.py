"""Each function's IAM grants (infra/policies.py) against the AWS calls its code really makes.

tests/botocore_recorder.py records every botocore call of the session with the function it ran
in. These tests are marked `run_last`, so under `make test` they see the whole suite; the tour
below also drives every function through Chalice (authorizer, API handler, the scheduled check
and the scheduled sweep of expired holds) with the JWT keys in SSM. `test_every_grant_is_used`
needs the whole suite (`make test`): a grant only the unit tests exercise is reported unused when
tests/infra runs alone (the tour alone covers the sweep's grants and the holds routes').
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import clock, mail
from chalicelib.alerts import episodes
from chalicelib.auth import keys, users
from chalicelib.settings import get_settings, reset_settings
from chalicelib.store import db
from infra import gateway_shim, policies
from tests import botocore_recorder

pytestmark = pytest.mark.run_last

# Calls only tests and their setup make (never a function): creating and emptying tables,
# verifying the SES sender in moto, storing the JWT keys parameter.
SETUP_ONLY = {
    "dynamodb:CreateTable",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:Scan",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DescribeTimeToLive",
    "ses:VerifyEmailIdentity",
    "ssm:PutParameter",
}

ADMIN = ("tour-admin@example.com", "tour-admin-password")
STAFF = ("tour-staff@example.com", "tour-staff-password")


def _send(
    client: Client,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    token: str = "",
    key: str = "",
) -> tuple[int, Any]:
    """One HTTP request through API Gateway's stand-in: (status, parsed body or None)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    text = None if body is None else json.dumps(body)
    reply = getattr(client.http, method)(path, headers=headers, body=text)
    return reply.status_code, json.loads(reply.body) if reply.body else None


def _login(client: Client, email: str, password: str) -> str:
    status, tokens = _send(client, "post", "/auth/login", {"email": email, "password": password})
    assert status == 200, tokens
    keys.forget_keys()  # the authorizer is its own function: it reads the keys too
    return str(tokens["access_token"])


def _add_product(client: Client, token: str, sku: str, stock: int, threshold: int) -> None:
    product = dict(sku=sku, name=sku, price="1.00", stock=stock, low_stock_threshold=threshold)
    assert _send(client, "post", "/products", product, token)[0] == 201


def _hold(client: Client, token: str, sku: str, quantity: int, ttl: int = 900) -> str:
    body = {"items": [{"sku": sku, "quantity": quantity}], "ttl_seconds": ttl}
    status, hold = _send(client, "post", "/holds", body, token, key=f"tour-{sku}-{quantity}")
    assert status == 201, hold
    return str(hold["id"])


def _run_scheduled(client: Client, name: str) -> Any:
    """The scheduled function as EventBridge starts it: in a container of its own."""
    db.unbind()
    mail.forget_client()
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    return client.lambda_.invoke(name, event).payload


@contextmanager
def _later(seconds: float) -> Iterator[None]:
    """chalicelib's clock moved ahead: holds made before are past their expiry. Tokens are
    checked against the real time, so they stay valid."""
    real = clock.now
    with mock.patch.object(clock, "now", lambda: real() + seconds):
        yield


def _tour_low_stock(client: Client, admin: str) -> None:
    """The scheduled check opens nothing new, emails TOUR-1 and resolves the episode of TOUR-2
    that its ending write left open (resolving it after the commit is best effort)."""
    _add_product(client, admin, "TOUR-1", stock=1, threshold=5)
    _add_product(client, admin, "TOUR-2", stock=1, threshold=5)
    with mock.patch.object(episodes, "close_episode", side_effect=RuntimeError("lost")):
        found = {"change": 10, "reason": "found"}
        assert _send(client, "post", "/products/TOUR-2/adjustments", found, admin)[0] == 201
    _run_scheduled(client, "check_low_stock")
    status, notifications = _send(client, "get", "/notifications?status=open", token=admin)
    assert status == 200
    assert [n["sku"] for n in notifications["items"]] == ["TOUR-1"]


def _tour_holds(client: Client, admin: str, admin_id: str, staff: str) -> None:
    """Every holds route, then the scheduled sweep releasing a hold that made its product low."""
    _add_product(client, admin, "TOUR-HOLD", stock=10, threshold=0)
    converted = _hold(client, admin, "TOUR-HOLD", 2)
    assert _send(client, "get", f"/holds/{converted}", token=admin)[0] == 200
    for query in ("?status=active", f"?customer_id={admin_id}"):
        status, page = _send(client, "get", f"/holds{query}", token=admin)
        assert status == 200 and converted in [h["id"] for h in page["items"]], query
    assert _send(client, "get", "/holds", token=staff)[0] == 200  # theirs and recorded: none
    status, order = _send(client, "post", "/sales-orders", {"hold_id": converted}, admin)
    assert status == 201 and order["hold_id"] == converted, order
    deleted = _hold(client, admin, "TOUR-HOLD", 1)
    assert _send(client, "delete", f"/holds/{deleted}", token=admin)[0] == 204
    expired = _hold(client, admin, "TOUR-HOLD", 3, ttl=5)
    with _later(60):
        released = _send(client, "post", "/holds/release-expired", token=admin)
    assert released == (200, {"released": 1})
    assert _send(client, "get", f"/holds/{expired}", token=admin)[1]["status"] == "released"

    _add_product(client, admin, "TOUR-SWEEP", stock=10, threshold=5)
    swept = _hold(client, admin, "TOUR-SWEEP", 8, ttl=5)  # 2 available: low, an episode opens
    with _later(60):
        released = _run_scheduled(client, "release_expired_holds")
    assert released == {"released": 1}
    assert _send(client, "get", f"/holds/{swept}", token=admin)[1]["status"] == "released"
    status, notifications = _send(client, "get", "/notifications?status=open", token=admin)
    assert "TOUR-SWEEP" not in [n["sku"] for n in notifications["items"]]


@pytest.fixture(scope="module")
def tour() -> Iterator[None]:
    """One pass through every function, the JWT keys read from SSM as in AWS."""
    saved = {name: os.environ.get(name) for name in ("JWT_KEYS_PARAMETER", "ALERT_RECIPIENTS")}
    gateway_shim.install()
    with mock_aws():
        import boto3

        os.environ["JWT_KEYS_PARAMETER"] = "/automart/test/jwt-keys"
        os.environ["ALERT_RECIPIENTS"] = "ops@example.com"
        reset_settings()
        keys.forget_keys()
        mail.forget_client()
        db.unbind()
        settings = get_settings()
        boto3.client("ssm", region_name=settings.region).put_parameter(
            Name=settings.jwt_keys_parameter,
            Type="SecureString",
            Value='{"current": "k1", "keys": {"k1": "tour-signing-key-long-enough-for-hs256"}}',
        )
        boto3.client("ses", region_name=settings.region).verify_email_identity(
            EmailAddress=settings.alert_sender
        )
        db.create_tables()
        admin_id = users.create_user(ADMIN[0], ADMIN[1], "Tour Admin", "admin").id
        users.create_user(STAFF[0], STAFF[1], "Tour Staff", "staff")
        from app import app

        with Client(app, stage_name="local") as client:
            db.unbind()  # the API handler binds its tables itself, as on a cold start
            keys.forget_keys()
            admin = _login(client, *ADMIN)
            staff = _login(client, *STAFF)
            assert _send(client, "get", "/auth/me", token=admin)[0] == 200
            _tour_low_stock(client, admin)
            _tour_holds(client, admin, admin_id, staff)
    db.unbind()
    keys.forget_keys()
    mail.forget_client()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    reset_settings()
    yield


def _by_function() -> tuple[dict[str, set], set]:
    attributed: dict[str, set] = {name: set() for name in policies.GRANTS}
    unattributed = set()
    for function, action, resource in botocore_recorder.recorded():
        if function is None:
            unattributed.add((action, resource))
        else:
            attributed.setdefault(function, set()).add((action, resource))
    return attributed, unattributed


def test_every_call_a_function_makes_is_granted_to_that_function(tour: None) -> None:
    attributed, _ = _by_function()
    for function, calls in attributed.items():
        missing = calls - policies.GRANTS.get(function, set())
        assert not missing, (
            f"{function} calls these without a grant in infra/policies.py: {sorted(missing)}"
        )


def test_every_call_of_domain_code_is_granted_to_some_function(tour: None) -> None:
    _, unattributed = _by_function()
    granted = set().union(*policies.GRANTS.values())
    missing = {c for c in unattributed if c not in granted and c[0] not in SETUP_ONLY}
    assert not missing, f"calls no function is granted (infra/policies.py): {sorted(missing)}"


def test_every_grant_is_used(tour: None) -> None:
    """Nothing granted that the code never does (in the function, or in domain-level tests)."""
    attributed, unattributed = _by_function()
    for function, grants in policies.GRANTS.items():
        unused = grants - attributed[function] - unattributed
        assert not unused, f"{function} is granted what no test saw it do: {sorted(unused)}"


def test_each_function_was_driven_through_its_entry_point(tour: None) -> None:
    attributed, _ = _by_function()
    assert ("ssm:GetParameter", "parameter") in attributed["jwt_auth"]
    assert ("ssm:GetParameter", "parameter") in attributed["api_handler"]
    assert ("ses:SendEmail", "identity") in attributed["check_low_stock"]
    assert ("dynamodb:Query", "table/products/index/low_stock") in attributed["check_low_stock"]
    # It resolved an episode a write had left open.
    assert ("dynamodb:GetItem", "table/alert-states") in attributed["check_low_stock"]
    sweep = attributed["release_expired_holds"]
    assert ("dynamodb:Query", "table/holds/index/expiring") in sweep
    # The hold it released had made its product low: the episode was resolved.
    assert ("dynamodb:UpdateItem", "table/notifications") in sweep
