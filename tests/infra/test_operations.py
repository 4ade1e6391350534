"""Each function's IAM grants (infra/policies.py) against the AWS calls its code really makes.

tests/botocore_recorder.py records every botocore call of the session with the function it ran
in. These tests are marked `run_last`, so under `make test` they see the whole suite; the tour
below also drives every function through Chalice (authorizer, API handler, scheduled check) with
the JWT keys in SSM. `test_every_grant_is_used` needs the whole suite (`make test`): a grant
only the unit tests exercise is reported unused when tests/infra runs alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import mail
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
        users.create_user(ADMIN[0], ADMIN[1], "Tour Admin", "admin")
        from app import app

        with Client(app, stage_name="local") as client:

            def call(method: str, path: str, body: str | None = None, token: str = "") -> int:
                headers = {"Content-Type": "application/json"}
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                return getattr(client.http, method)(path, headers=headers, body=body).status_code

            db.unbind()  # the API handler binds its tables itself, as on a cold start
            keys.forget_keys()
            reply = client.http.post(
                "/auth/login",
                headers={"Content-Type": "application/json"},
                body=f'{{"email": "{ADMIN[0]}", "password": "{ADMIN[1]}"}}',
            )
            assert reply.status_code == 200, reply.body
            import json

            token = json.loads(reply.body)["access_token"]
            keys.forget_keys()  # the authorizer is its own function: it reads the keys too
            assert call("get", "/auth/me", token=token) == 200
            assert (
                call(
                    "post",
                    "/products",
                    '{"sku": "TOUR-1", "name": "Tour", "price": "1.00",'
                    ' "stock": 1, "low_stock_threshold": 5}',
                    token,
                )
                == 201
            )
            db.unbind()  # the scheduled function is another container
            mail.forget_client()
            client.lambda_.invoke(
                "check_low_stock",
                client.events.generate_cw_event(
                    source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
                ),
            )
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
