"""Accounts over HTTP against the local stack: reset codes arrive through the emulator's SES."""

from __future__ import annotations

import re
import time
import uuid

from infra.cli import read_local_emails, recipients
from tests.stack import Http, new_account

PASSWORD = "password123"
CODE_LINE = re.compile(r"^Code: ([0-9A-Z]{8,})$", re.MULTILINE)


def reset_emails(stack, email: str) -> list[dict]:
    return [
        m
        for m in read_local_emails(stack.emulator_url)
        if email in recipients(m) and "Password reset" in m["subject"]
    ]


def latest_code(stack, email: str) -> str:
    return CODE_LINE.findall(reset_emails(stack, email)[-1]["body"])[0]


def ask_reset(http: Http, email: str):
    return http.call("POST", "/auth/password-reset", {"email": email})


def confirm(http: Http, email: str, code: str, password: str):
    return http.call(
        "POST",
        "/auth/password-reset/confirm",
        {"email": email, "code": code, "new_password": password},
    )


def test_reset_tells_nobody_who_has_an_account(stack, http, admin):
    _, known = new_account(http, admin, "customer")
    gone_id, gone = new_account(http, admin, "staff")
    assert http.call("PATCH", f"/users/{gone_id}", {"active": False}, admin).status == 200
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    answers = []
    for email in (known, unknown, gone):
        started = time.monotonic()
        reply = ask_reset(http, email)
        answers.append((reply.status, reply.body, reply.headers.get("Cache-Control")))
        # The stack runs with the default answer floor (0.3 s): every address waits it out.
        assert time.monotonic() - started >= 0.3
    assert set(answers) == {(202, b'{"status":"accepted"}', "no-store")}
    assert len(reset_emails(stack, known)) == 1
    assert reset_emails(stack, unknown) == reset_emails(stack, gone) == []


def test_a_reset_sets_the_password_once_and_ends_every_session(stack, http, admin):
    _, email = new_account(http, admin, "customer")
    session = http.login(email, PASSWORD)
    for _ in range(5):  # lock the account out
        http.call("POST", "/auth/login", {"email": email, "password": "wrong-password"})
    locked = http.call("POST", "/auth/login", {"email": email, "password": PASSWORD})
    assert locked.status == 429
    assert ask_reset(http, email).status == 202
    code = latest_code(stack, email)
    wrong = confirm(http, email, "NOTTHECODE", "new-password-1")
    assert wrong.status == 400 and wrong.json["code"] == "invalid_reset_code"
    done = confirm(http, email, code, "new-password-1")
    assert done.status == 200, done.body
    assert http.call("GET", "/auth/me", token=done.json["access_token"]).json["email"] == email
    again = confirm(http, email, code, "new-password-2")
    assert again.status == 400 and again.json["message"] == wrong.json["message"]
    old = http.call("POST", "/auth/refresh", {"refresh_token": session["refresh_token"]})
    assert old.status == 401
    http.login(email, "new-password-1")  # the lockout is gone too


def test_three_emails_an_hour_and_five_wrong_codes(stack, http, admin):
    _, email = new_account(http, admin, "customer")
    for _ in range(4):
        assert ask_reset(http, email).status == 202
    assert len(reset_emails(stack, email)) == 3
    code = latest_code(stack, email)
    for attempt in range(5):
        assert confirm(http, email, f"WRONG{attempt}XYZ", "new-password-1").status == 400
    burnt = confirm(http, email, code, "new-password-1")
    assert burnt.status == 400 and burnt.json["code"] == "invalid_reset_code"
    http.login(email, PASSWORD)


def test_password_change_and_an_email_moved_by_an_admin(stack, http, admin):
    user_id, email = new_account(http, admin, "staff")
    first = http.login(email, PASSWORD)
    changed = http.call(
        "POST",
        "/auth/password",
        {"current_password": PASSWORD, "new_password": "new-password-1"},
        first["access_token"],
    )
    assert changed.status == 200, changed.body
    old = http.call("POST", "/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert old.status == 401
    moved = f"moved-{uuid.uuid4().hex[:8]}@example.com"
    reply = http.call("PATCH", f"/users/{user_id}", {"email": moved}, admin)
    assert reply.status == 200 and reply.json["email"] == moved
    http.login(moved, "new-password-1")
    register = {"email": email, "password": PASSWORD, "name": "Someone else"}
    assert http.call("POST", "/auth/register", register).status == 201  # the old one is free
    taken = http.call("PATCH", f"/users/{user_id}", {"email": email.upper()}, admin)
    assert taken.status == 409 and taken.json["code"] == "email_taken"
    name = http.call("PATCH", "/auth/me", {"name": "Renamed"}, changed.json["access_token"])
    assert name.status == 200 and name.json["name"] == "Renamed"
