"""Accounts a person runs themselves (API.md, Accounts): profile, password change, reset by
emailed code, an admin changing an email or sending a reset; and the rehash at login."""

from __future__ import annotations

import re
import time
from unittest import mock

import pytest

from chalicelib import mail
from chalicelib.auth import passwords, resets, users
from chalicelib.errors import AppError
from chalicelib.settings import reset_settings
from chalicelib.store.models import PasswordReset, User
from tests.unit.helpers import Api, make_user, run_together, sent
from tests.unit.test_passwords import scrypt_hash

PASSWORD = "password123"
NEW_PASSWORD = "a-new-password"
RESET = "/auth/password-reset"
CONFIRM = "/auth/password-reset/confirm"
CODE_LINE = re.compile(r"^Code: ([0-9A-Z]{8,})$", re.MULTILINE)


@pytest.fixture()
def customer(ses) -> tuple[str, str]:
    return make_user("customer")


def assert_error(reply, status: int, code: str) -> None:
    assert reply.status == status, (reply.status, reply.json)
    assert reply.json["code"] == code, reply.json


def codes_sent_to(email: str) -> list[str]:
    found = []
    for message in sent():
        if email in message.destinations["ToAddresses"]:
            assert "Password reset" in message.subject
            found.append(CODE_LINE.findall(message.body)[0])
    return found


def request_code(api: Api, email: str) -> str:
    reply = api.call("POST", RESET, {"email": email})
    assert reply.status == 202 and reply.json == {"status": "accepted"}, reply.body
    return codes_sent_to(email)[-1]


def confirm(api: Api, email: str, code: str, password: str = NEW_PASSWORD):
    return api.call("POST", CONFIRM, {"email": email, "code": code, "new_password": password})


def refresh(api: Api, token: str):
    return api.call("POST", "/auth/refresh", {"refresh_token": token})


# ---- profile and password change -------------------------------------------------------------


def test_patch_me_changes_only_the_callers_name(api, customer, tokens):
    user_id, email = customer
    token = api.login(email, PASSWORD)["access_token"]
    reply = api.call("PATCH", "/auth/me", {"name": "Ada L."}, token)
    assert reply.status == 200 and reply.json["name"] == "Ada L." and reply.json["id"] == user_id
    assert api.call("GET", "/auth/me", token=token).json["name"] == "Ada L."
    for bad in ({"email": "x@example.com"}, {"role": "admin"}, {"name": ""}, {"name": None}):
        assert_error(api.call("PATCH", "/auth/me", bad, token), 400, "validation_error")
    assert users.get_user(user_id).role == "customer" and users.get_user(user_id).email == email


def test_password_change_revokes_every_refresh_token_and_answers_a_fresh_pair(api, customer):
    _, email = customer
    first, second = api.login(email, PASSWORD), api.login(email, PASSWORD)
    reply = api.call(
        "POST",
        "/auth/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        first["access_token"],
    )
    assert reply.status == 200 and reply.json["token_type"] == "Bearer", reply.body
    for old in (first, second):
        assert_error(refresh(api, old["refresh_token"]), 401, "unauthorized")
    assert refresh(api, reply.json["refresh_token"]).status == 200
    assert api.call("GET", "/auth/me", token=reply.json["access_token"]).status == 200
    assert_error(
        api.call("POST", "/auth/login", {"email": email, "password": PASSWORD}),
        401,
        "invalid_credentials",
    )
    api.login(email, NEW_PASSWORD)


def test_a_rehash_at_login_meanwhile_does_not_refuse_a_password_change(api, customer):
    """A login upgrading an old hash between the check and the write keeps the same password:
    the change still goes through."""
    user_id, email = customer
    User(id=user_id).update([User.password_hash.set(scrypt_hash(PASSWORD))])
    token = api.login(email, PASSWORD)["access_token"]  # upgrades the hash
    User(id=user_id).update([User.password_hash.set(scrypt_hash(PASSWORD))])
    real_verify = passwords.verify_password

    def verify_while_a_login_rehashes(password: str, stored: str) -> bool:
        proven = real_verify(password, stored)
        users._rehash_if_old(users.get_user(user_id), password)
        return proven

    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    with mock.patch.object(passwords, "verify_password", verify_while_a_login_rehashes):
        reply = api.call("POST", "/auth/password", change, token)
    assert reply.status == 200, reply.body
    assert real_verify(NEW_PASSWORD, users.get_user(user_id).password_hash)


def test_a_wrong_current_password_is_403_and_counts_toward_the_lockout(api, customer):
    user_id, email = customer
    token = api.login(email, PASSWORD)["access_token"]
    wrong = {"current_password": "not-it-at-all", "new_password": NEW_PASSWORD}
    for _ in range(5):
        assert_error(api.call("POST", "/auth/password", wrong, token), 403, "invalid_credentials")
    right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert_error(api.call("POST", "/auth/password", right, token), 429, "too_many_attempts")
    assert passwords.verify_password(PASSWORD, users.get_user(user_id).password_hash)
    short = {"current_password": PASSWORD, "new_password": "short"}
    assert_error(api.call("POST", "/auth/password", short, token), 400, "validation_error")


# ---- reset by email ----------------------------------------------------------------------------


def test_reset_answers_the_same_for_known_unknown_deactivated_and_malformed(api, tokens, ses):
    _, known = make_user("customer")
    gone_id, gone = make_user("customer")
    users.update_user(gone_id, active=False)
    replies = [
        api.call("POST", RESET, {"email": email})
        for email in (known, "nobody@example.com", gone, "not an address", "", known.upper())
    ]
    assert {(r.status, r.body) for r in replies} == {(202, b'{"status":"accepted"}')}
    assert [m.destinations["ToAddresses"] for m in sent()] == [[known], [known]]
    for bad in ({}, {"email": 5}, {"email": None}, {"email": "a@b.com", "x": 1}):
        assert_error(api.call("POST", RESET, bad), 400, "validation_error")
    assert_error(api.call("POST", RESET, raw=b"{"), 400, "invalid_json")


def test_the_email_has_a_code_line_in_both_parts_and_the_stage_link(api, customer, monkeypatch):
    _, email = customer
    monkeypatch.setenv("PASSWORD_RESET_URL", "https://shop.example.com/reset")
    reset_settings()
    outgoing = []
    real_send = mail.send
    with mock.patch.object(mail, "send", side_effect=lambda e: outgoing.append(e) or real_send(e)):
        code = request_code(api, email)
    monkeypatch.undo()
    reset_settings()
    (message,) = outgoing
    assert message.subject == "AutoMart: Password reset" and message.recipients == (email,)
    assert CODE_LINE.findall(message.text) == CODE_LINE.findall(message.html) == [code]
    link = f"https://shop.example.com/reset?email={email.replace('@', '%40')}&code={code}"
    assert link in message.text and link.replace("&", "&amp;") in message.html


def test_a_code_works_once_and_sets_the_password(api, customer):
    user_id, email = customer
    code = request_code(api, email)
    reply = confirm(api, email, code)
    assert reply.status == 200 and set(reply.json) >= {"access_token", "refresh_token"}
    api.login(email, NEW_PASSWORD)
    assert_error(confirm(api, email, code, "another-password"), 400, "invalid_reset_code")
    assert passwords.verify_password(NEW_PASSWORD, users.get_user(user_id).password_hash)


def test_a_newer_request_replaces_the_code(api, customer):
    _, email = customer
    older = request_code(api, email)
    newer = request_code(api, email)
    assert older != newer
    assert_error(confirm(api, email, older), 400, "invalid_reset_code")
    assert confirm(api, email, newer).status == 200


def test_a_code_expires_after_30_minutes(api, customer, frozen):
    _, email = customer
    code = request_code(api, email)
    frozen.time += 30 * 60 + 1
    assert_error(confirm(api, email, code), 400, "invalid_reset_code")


def test_every_refusal_has_the_same_message(api, customer):
    _, email = customer
    gone_id, gone = make_user("customer")
    code = request_code(api, email)
    gone_code = request_code(api, gone)
    users.update_user(gone_id, active=False)
    replies = [
        confirm(api, email, "WRONGCODE1"),
        confirm(api, "nobody@example.com", code),
        confirm(api, "not an address", code),
        confirm(api, gone, gone_code),
        confirm(api, email.replace("@", "+x@"), code),
    ]
    assert {(r.status, r.json["code"], r.json["message"]) for r in replies} == {
        (400, "invalid_reset_code", replies[0].json["message"])
    }


def test_five_wrong_codes_burn_the_code_until_a_new_request(api, customer):
    _, email = customer
    code = request_code(api, email)
    for attempt in range(5):
        assert_error(confirm(api, email, f"WRONG{attempt}CODE"), 400, "invalid_reset_code")
    assert_error(confirm(api, email, code), 400, "invalid_reset_code")
    assert confirm(api, email, request_code(api, email)).status == 200


# Concurrency in process calls the domain: chalice's test client swaps os.environ per request,
# which threads would race on. Over HTTP, tests/integration runs requests at once.


def outcome(job) -> str:
    try:
        job()
    except AppError as error:
        return error.code
    return "ok"


def test_concurrent_guesses_are_counted_before_they_are_compared(api, customer, atomic_moto):
    _, email = customer
    code = request_code(api, email)
    guesses = [
        lambda i=i: outcome(lambda: resets.confirm_reset(email, f"GUESS{i:05d}", NEW_PASSWORD))
        for i in range(12)
    ]
    assert set(run_together(*guesses)) == {"invalid_reset_code"}
    (record,) = PasswordReset.scan()
    assert record.attempts == 5  # 12 guesses, only 5 compared
    assert_error(confirm(api, email, code), 400, "invalid_reset_code")


def test_two_confirmations_of_one_code_succeed_once(api, customer, atomic_moto):
    _, email = customer
    code = request_code(api, email)
    results = run_together(
        *[
            lambda p=p: outcome(lambda: resets.confirm_reset(email, code, p))
            for p in ("pass-one-1", "pass-two-2")
        ]
    )
    assert sorted(results) == ["invalid_reset_code", "ok"]


def test_at_most_three_emails_an_hour_per_account(api, customer, frozen):
    _, email = customer
    for _ in range(5):
        assert api.call("POST", RESET, {"email": email}).status == 202
    codes = codes_sent_to(email)
    assert len(codes) == 3
    assert confirm(api, email, codes[-1]).status == 200  # the limit kept the last code
    frozen.time += 3601
    assert len(codes_sent_to(email)) == 3
    request_code(api, email)
    assert len(codes_sent_to(email)) == 4


def test_every_spelling_of_an_address_is_one_account(api, tokens, ses):
    """The limit, the replacement and the attempts count per account, not per spelling; a string
    that is no address never touches the account's code."""
    user_id, _ = make_user("customer")
    users.update_user(user_id, email="ada@example.com")
    spellings = ("ada@example.com", "ADA@example.com", "Ada@ＥXAMPLE.com", "ada@EXAMPLE.COM")
    for spelling in spellings:
        assert api.call("POST", RESET, {"email": spelling}).status == 202
    codes = codes_sent_to("ada@example.com")
    assert len(codes) == 3
    assert api.call("POST", RESET, {"email": " ada@example.com"}).status == 202
    assert_error(confirm(api, "ada@example.com", codes[0]), 400, "invalid_reset_code")
    assert confirm(api, "ADA@ＥXAMPLE.COM", codes[-1]).status == 200


def test_concurrent_requests_never_pass_the_hourly_limit(api, customer, atomic_moto):
    _, email = customer
    run_together(*[lambda: resets.request_reset(email)] * 8)
    assert len(codes_sent_to(email)) == 3


def test_success_revokes_every_session_and_clears_the_lockout(api, customer):
    _, email = customer
    sessions = [api.login(email, PASSWORD) for _ in range(2)]
    for _ in range(5):
        api.call("POST", "/auth/login", {"email": email, "password": "wrong-password"})
    assert_error(
        api.call("POST", "/auth/login", {"email": email, "password": PASSWORD}),
        429,
        "too_many_attempts",
    )
    fresh = confirm(api, email, request_code(api, email)).json
    for session in sessions:
        assert_error(refresh(api, session["refresh_token"]), 401, "unauthorized")
    assert refresh(api, fresh["refresh_token"]).status == 200
    api.login(email, NEW_PASSWORD)  # no lockout left


def test_codes_are_never_stored_in_clear(api, customer):
    _, email = customer
    code = request_code(api, email)
    (record,) = PasswordReset.scan()
    stored = str(record.serialize())
    assert code not in stored and code.lower() not in stored
    assert record.code_hash and len(record.code_hash) == 64


def test_an_email_that_fails_to_send_still_answers_202(api, customer):
    _, email = customer
    with mock.patch.object(mail, "send", side_effect=RuntimeError("SES is down")):
        reply = api.call("POST", RESET, {"email": email})
    assert reply.status == 202 and reply.json == {"status": "accepted"}


def test_every_reset_request_lasts_the_answer_floor(api, customer, monkeypatch):
    """The SES call and the reads cannot be timed: known and unknown addresses answer after the
    same floor, for requests and confirmations alike."""
    _, email = customer
    monkeypatch.setenv("RESET_ANSWER_SECONDS", "0.25")
    reset_settings()
    try:
        for address in (email, "nobody@example.com"):
            started = time.monotonic()
            assert api.call("POST", RESET, {"email": address}).status == 202
            assert time.monotonic() - started >= 0.25
        code = codes_sent_to(email)[-1]
        for address, wanted in ((email, 200), ("nobody@example.com", 400)):
            started = time.monotonic()
            assert confirm(api, address, code).status == wanted
            assert time.monotonic() - started >= 0.25
    finally:
        monkeypatch.undo()
        reset_settings()


# ---- admin -------------------------------------------------------------------------------------


def test_admin_changes_an_email_and_frees_the_old_one(api, tokens, ses):
    user_id, old = make_user("customer")
    _, taken = make_user("staff")
    admin = tokens["admin"]
    assert_error(
        api.call("PATCH", f"/users/{user_id}", {"email": taken.upper()}, admin), 409, "email_taken"
    )
    assert users.get_user(user_id).email == old
    reply = api.call("PATCH", f"/users/{user_id}", {"email": "New.Address@Example.com"}, admin)
    assert reply.status == 200 and reply.json["email"] == "new.address@example.com"
    api.login("new.address@example.com", PASSWORD)
    assert_error(
        api.call("POST", "/auth/login", {"email": old, "password": PASSWORD}),
        401,
        "invalid_credentials",
    )
    again = api.call("POST", "/auth/register", {"email": old, "password": PASSWORD, "name": "B"})
    assert again.status == 201, again.body
    assert_error(
        api.call("PATCH", f"/users/{user_id}", {"email": "not an address"}, admin),
        400,
        "validation_error",
    )


def test_two_users_moved_to_one_address_at_once_get_it_once(api, tokens, ses, atomic_moto):
    first, second = make_user("customer")[0], make_user("customer")[0]
    results = run_together(
        *[
            lambda u=u: outcome(lambda: users.update_user(u, email="wanted@example.com"))
            for u in (first, second)
        ]
    )
    assert sorted(results) == ["email_taken", "ok"]
    winner = first if results[0] == "ok" else second
    assert users.find_by_email("wanted@example.com").id == winner


def test_admin_sends_a_reset_within_the_same_hourly_limit(api, tokens, ses):
    user_id, email = make_user("staff")
    admin = tokens["admin"]
    request_code(api, email)
    for _ in range(3):
        reply = api.call("POST", f"/users/{user_id}/password-reset", token=admin)
        assert reply.status == 202 and reply.json == {"status": "accepted"}
    codes = codes_sent_to(email)
    assert len(codes) == 3
    assert confirm(api, email, codes[-1]).status == 200
    gone_id, gone = make_user("customer")
    users.update_user(gone_id, active=False)
    assert api.call("POST", f"/users/{gone_id}/password-reset", token=admin).status == 202
    assert codes_sent_to(gone) == []
    missing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert_error(
        api.call("POST", f"/users/{missing}/password-reset", token=admin), 404, "not_found"
    )


ROLE_MATRIX = [
    ("PATCH", "/auth/me", {"name": "X"}, ("admin", "staff", "customer")),
    (
        "POST",
        "/auth/password",
        {"current_password": "x", "new_password": NEW_PASSWORD},
        ("admin", "staff", "customer"),
    ),
    ("POST", "/users/{id}/password-reset", None, ("admin",)),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ROLE_MATRIX)
def test_role_matrix_of_the_new_routes(api, tokens, ses, method, path, body, allowed):
    user_id, _ = make_user("customer")
    path = path.replace("{id}", user_id)
    assert_error(api.call(method, path, body), 401, "unauthorized")
    for role, token in tokens.items():
        reply = api.call(method, path, body, token)
        if role in allowed:
            assert reply.status != 403 or reply.json["code"] == "invalid_credentials", role
        else:
            assert_error(reply, 403, "forbidden")


# ---- the hash upgrade at login -----------------------------------------------------------------


def test_an_old_scrypt_hash_is_replaced_at_the_next_successful_login(api, customer):
    user_id, email = customer
    User(id=user_id).update([User.password_hash.set(scrypt_hash(PASSWORD))])
    assert_error(
        api.call("POST", "/auth/login", {"email": email, "password": "wrong-password"}),
        401,
        "invalid_credentials",
    )
    assert users.get_user(user_id).password_hash.startswith("scrypt$")  # no proof, no rehash
    api.login(email, PASSWORD)
    upgraded = users.get_user(user_id).password_hash
    assert upgraded.startswith("$argon2id$") and not passwords.needs_rehash(upgraded)
    api.login(email, PASSWORD)
    assert users.get_user(user_id).password_hash == upgraded  # only once


def test_create_admin_sets_an_existing_admins_password(ses):
    created = users.ensure_admin("boss@example.com", PASSWORD, reset_password=True)
    assert created.created
    reset = users.ensure_admin("boss@example.com", NEW_PASSWORD, reset_password=True)
    assert reset.password_reset and not reset.created
    assert passwords.verify_password(NEW_PASSWORD, users.get_user(reset.user.id).password_hash)
    _, staff = make_user("staff")
    with pytest.raises(users.NotAnAdmin):
        users.ensure_admin(staff, NEW_PASSWORD, reset_password=True)
