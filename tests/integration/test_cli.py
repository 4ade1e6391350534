"""The management command against the running local stack."""

from __future__ import annotations

import re
import uuid

from tests.stack import cli, new_account, run_cli


def test_create_admin_then_log_in(stack, http):
    email = f"boss-{uuid.uuid4().hex[:6]}@example.com"
    assert "created: admin" in cli(
        stack, "create-admin", "--email", email, "--password", "password123"
    )
    token = http.login(email, "password123")["access_token"]
    assert http.call("GET", "/auth/me", token=token).json["role"] == "admin"


def test_create_admin_resets_a_lost_admin_password(stack, http, admin):
    email = f"lost-{uuid.uuid4().hex[:6]}@example.com"
    cli(stack, "create-admin", "--email", email, "--password", "password123")
    session = http.login(email, "password123")
    assert "password reset: admin" in cli(
        stack, "create-admin", "--email", email, "--password", "new-password-1"
    )
    http.login(email, "new-password-1")
    old = http.call("POST", "/auth/login", {"email": email, "password": "password123"})
    assert old.status == 401
    again = http.call("POST", "/auth/refresh", {"refresh_token": session["refresh_token"]})
    assert again.status == 401  # the old sessions went with the old password
    _, staff = new_account(http, admin, "staff")
    refused = run_cli(stack, "create-admin", "--email", staff, "--password", "new-password-1")
    assert refused.returncode != 0 and "not an admin" in refused.stderr
    short = run_cli(stack, "create-admin", "--email", email, "--password", "short")
    assert short.returncode != 0 and "at least 8 characters" in short.stderr


def test_emails_command_shows_reset_emails(stack, http, admin):
    _, email = new_account(http, admin, "customer")
    assert http.call("POST", "/auth/password-reset", {"email": email}).status == 202
    out = cli(stack, "emails")
    mine = [block for block in out.split("-" * 72) if f"To: {email}" in block]
    assert len(mine) == 1 and "Password reset" in mine[0]
    assert re.search(r"^Code: [0-9A-Z]{8,}$", mine[0], re.MULTILINE), mine[0]


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
