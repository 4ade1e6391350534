"""The management command against the running local stack."""

from __future__ import annotations

import subprocess
import sys
import uuid

from tests.stack import ROOT


def cli(stack, *args: str) -> str:
    dynamodb = [] if stack.backend == "moto" else ["--dynamodb", stack.dynamodb_url]
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "--emulator", stack.emulator_url, *dynamodb, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_create_admin_then_log_in(stack, http):
    email = f"boss-{uuid.uuid4().hex[:6]}@example.com"
    assert "created: admin" in cli(
        stack, "create-admin", "--email", email, "--password", "password123"
    )
    assert "exists already" in cli(stack, "create-admin", "--email", email, "--password", "x" * 8)
    token = http.login(email, "password123")["access_token"]
    assert http.call("GET", "/auth/me", token=token).json["role"] == "admin"


def test_seed_creates_products_visible_over_http(stack, http, admin):
    out = cli(stack, "seed", "--count", "5")
    assert "products created" in out
    assert http.call("GET", "/products/SEED-00004", token=admin).status == 200


def test_emails_command_prints_what_the_emulator_accepted(stack):
    import botocore.session

    ses = botocore.session.get_session().create_client(
        "ses",
        region_name="us-east-1",
        endpoint_url=stack.emulator_url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    subject = f"Low stock test {uuid.uuid4().hex[:6]}"
    ses.send_email(
        Source="alerts@automart.example.com",
        Destination={"ToAddresses": ["admin@example.com"]},
        Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": "body"}}},
    )
    assert subject in cli(stack, "emails")
