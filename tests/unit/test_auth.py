"""/auth/*: register, login (with throttling), refresh rotation, logout, me."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from unittest import mock

import jwt
import pytest

from chalicelib import clock
from chalicelib.auth import passwords
from tests.unit.helpers import Api, make_user

PASSWORD = "password123"


USER_KEYS = {"id", "email", "name", "role", "active", "created_at"}


def register(api: Api, **overrides: object):
    body = {"email": "new@example.com", "password": PASSWORD, "name": "New", **overrides}
    return api.call("POST", "/auth/register", body)


def login(api: Api, email: str, password: str = PASSWORD):
    return api.call("POST", "/auth/login", {"email": email, "password": password})


def assert_error(reply, status: int, code: str) -> None:
    assert reply.status == status, (reply.status, reply.json)
    assert reply.json["code"] == code, reply.json
    assert isinstance(reply.json["message"], str) and reply.json["message"]


# ---- register -----------------------------------------------------------------------------------


def test_register_creates_a_customer(api):
    reply = register(api, email="Jane.Doe@Example.COM")
    assert reply.status == 201, reply.json
    assert set(reply.json) == USER_KEYS  # never a password or hash
    assert reply.json["role"] == "customer" and reply.json["active"] is True
    assert reply.json["email"] == "jane.doe@example.com"
    assert reply.json["created_at"].endswith("Z")
    assert login(api, "JANE.DOE@example.com").status == 200


@pytest.mark.parametrize("field", ["role", "active", "id", "password_hash"])
def test_register_rejects_any_other_field(api, field):
    reply = register(api, **{field: "admin"})
    assert_error(reply, 400, "validation_error")
    assert any(d["field"] == field for d in reply.json["details"])


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@b.com", "a b@c.com", "a@b@c.com", ""])
def test_register_rejects_a_bad_email(api, email):
    assert_error(register(api, email=email), 400, "validation_error")


@pytest.mark.parametrize("length,status", [(7, 400), (8, 201), (128, 201), (129, 400)])
def test_register_password_length(api, length, status):
    reply = register(api, email=f"p{length}@example.com", password="x" * length)
    assert reply.status == status, reply.json


@pytest.mark.parametrize(
    "email",
    [
        "user@example.test",
        "o'brien+tag@sub.example.co.uk",
        "\u00fc\u00f1\u00ee@b\u00fccher.example",
    ],
)
def test_register_accepts_syntactically_valid_addresses(api, email):
    reply = register(api, email=email)
    assert reply.status == 201, reply.json
    assert login(api, email).status == 200


def test_register_rejects_missing_fields_and_empty_name(api):
    assert_error(
        api.call("POST", "/auth/register", {"email": "a@example.com"}), 400, "validation_error"
    )
    assert_error(register(api, name=""), 400, "validation_error")


def test_register_duplicate_email_case_insensitive(api):
    assert register(api, email="dup@example.com").status == 201
    assert_error(register(api, email="DUP@Example.com"), 409, "email_taken")


# ---- login --------------------------------------------------------------------------------------


def test_login_returns_tokens(api, aws):
    _, email = make_user("customer")
    reply = login(api, email)
    assert reply.status == 200, reply.json
    assert set(reply.json) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert reply.json["token_type"] == "Bearer"
    assert reply.json["expires_in"] == 15 * 60
    me = api.call("GET", "/auth/me", token=reply.json["access_token"])
    assert me.status == 200 and me.json["email"] == email and set(me.json) == USER_KEYS


def test_wrong_email_and_wrong_password_look_the_same(api, aws):
    _, email = make_user("customer")
    wrong_password = login(api, email, "not-the-password")
    wrong_email = login(api, "nobody@example.com")
    assert_error(wrong_password, 401, "invalid_credentials")
    assert_error(wrong_email, 401, "invalid_credentials")
    assert wrong_password.json == wrong_email.json


def test_unknown_email_spends_a_password_check(api, aws):
    with mock.patch.object(passwords, "burn_time", wraps=passwords.burn_time) as burn:
        assert_error(login(api, "ghost@example.com"), 401, "invalid_credentials")
    burn.assert_called_once_with(PASSWORD)


def test_syntactically_invalid_login_email_is_just_wrong_credentials(api, aws):
    # Not a 400: a login form should not tell "malformed" from "unknown".
    assert_error(login(api, "not an email"), 401, "invalid_credentials")


def test_disabled_user_cannot_log_in(api, tokens):
    user_id, email = make_user("staff")
    reply = api.call("PATCH", f"/users/{user_id}", {"active": False}, tokens["admin"])
    assert reply.status == 200 and reply.json["active"] is False
    assert_error(login(api, email), 401, "invalid_credentials")


def test_five_failures_lock_the_account_until_the_window_passes(api, aws, frozen):
    _, email = make_user("customer")
    _, bystander = make_user("customer")
    for _ in range(5):
        assert_error(login(api, email, "wrong-password"), 401, "invalid_credentials")
        frozen.time += 60
    locked = login(api, email)  # the right password
    assert_error(locked, 429, "too_many_attempts")
    assert int(locked.headers["Retry-After"]) > 0
    assert login(api, bystander).status == 200  # other accounts are not affected
    frozen.time += 9 * 60  # 14 minutes after the first failure: still inside the window
    assert_error(login(api, email), 429, "too_many_attempts")
    frozen.time += 2 * 60  # the window (15 minutes from the first failure) has passed
    assert login(api, email).status == 200


def test_failures_spread_beyond_the_window_do_not_lock(api, aws, frozen):
    _, email = make_user("customer")
    for _ in range(4):
        login(api, email, "wrong-password")
    frozen.time += 16 * 60
    for _ in range(4):  # a new window: four failures only
        assert_error(login(api, email, "wrong-password"), 401, "invalid_credentials")
    assert login(api, email).status == 200


def test_a_successful_login_resets_the_count(api, aws, frozen):
    _, email = make_user("customer")
    for _ in range(4):
        login(api, email, "wrong-password")
    assert login(api, email).status == 200
    for _ in range(4):
        login(api, email, "wrong-password")
    assert login(api, email).status == 200


# ---- refresh and logout -------------------------------------------------------------------------


def refresh(api: Api, token: str):
    return api.call("POST", "/auth/refresh", {"refresh_token": token})


def test_refresh_rotates(api, aws):
    _, email = make_user("customer")
    first = api.login(email, PASSWORD)
    reply = refresh(api, first["refresh_token"])
    assert reply.status == 200, reply.json
    assert reply.json["token_type"] == "Bearer"
    assert reply.json["refresh_token"] != first["refresh_token"]
    assert api.call("GET", "/auth/me", token=reply.json["access_token"]).status == 200
    assert_error(refresh(api, first["refresh_token"]), 401, "unauthorized")
    assert refresh(api, reply.json["refresh_token"]).status == 200


def test_access_token_is_not_a_refresh_token(api, aws):
    _, email = make_user("customer")
    access = api.login(email, PASSWORD)["access_token"]
    assert_error(refresh(api, access), 401, "unauthorized")
    assert_error(refresh(api, "garbage"), 401, "unauthorized")


def test_expired_refresh_token_is_refused(api, aws, frozen):
    _, email = make_user("customer")
    issued = api.login(email, PASSWORD)["refresh_token"]
    kept = api.login(email, PASSWORD)["refresh_token"]
    frozen.time += 7 * 24 * 3600 - 60  # a minute before the end of its 7 days
    assert refresh(api, kept).status == 200
    frozen.time += 120
    assert_error(refresh(api, issued), 401, "unauthorized")


def test_deactivated_user_cannot_refresh(api, tokens):
    user_id, email = make_user("customer")
    session = api.login(email, PASSWORD)
    assert api.call("PATCH", f"/users/{user_id}", {"active": False}, tokens["admin"]).status == 200
    assert_error(refresh(api, session["refresh_token"]), 401, "unauthorized")


def test_logout_revokes_the_refresh_token(api, aws):
    _, email = make_user("staff")
    session = api.login(email, PASSWORD)
    reply = api.call(
        "POST", "/auth/logout", {"refresh_token": session["refresh_token"]}, session["access_token"]
    )
    assert reply.status == 204 and not reply.body
    assert_error(refresh(api, session["refresh_token"]), 401, "unauthorized")


def test_logout_cannot_revoke_someone_elses_token(api, aws):
    _, alice = make_user("customer")
    _, bob = make_user("customer")
    alice_session = api.login(alice, PASSWORD)
    bob_session = api.login(bob, PASSWORD)
    reply = api.call(
        "POST",
        "/auth/logout",
        {"refresh_token": alice_session["refresh_token"]},
        bob_session["access_token"],
    )
    assert reply.status == 204
    assert refresh(api, alice_session["refresh_token"]).status == 200


def test_logout_and_me_need_a_token(api, aws):
    assert_error(api.call("POST", "/auth/logout", {"refresh_token": "x"}), 401, "unauthorized")
    assert_error(api.call("GET", "/auth/me"), 401, "unauthorized")


def test_login_matches_the_address_as_normalized_at_registration(api):
    # The same address typed precomposed (NFC) and with a combining accent (NFD).
    assert register(api, email="\u00c9lodie@example.com").status == 201
    assert login(api, "e\u0301lodie@EXAMPLE.com").status == 200


# ---- token attacks: every one is API Gateway's 401 with the unauthorized body -------------------

SECRET = "unit-test-signing-key-that-is-long-enough-32b"  # tests/conftest.py JWT_KEYS


def claims(**overrides: object) -> dict:
    now = int(time.time())
    base = {
        "iss": "automart",
        "aud": "automart-api",
        "sub": "01HUSER",
        "role": "admin",
        "iat": now,
        "exp": now + 600,
        "jti": "abc",
        "typ": "access",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def forge(
    payload: dict | None = None,
    key: str = SECRET,
    algorithm: str = "HS256",
    kid: str | None = "local",
) -> str:
    headers = {"kid": kid} if kid is not None else {}
    with warnings.catch_warnings():  # HS384/HS512 with our 45-byte key: PyJWT warns, rightly
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(payload or claims(), key, algorithm=algorithm, headers=headers)


def _part(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def unsigned(payload: dict) -> str:
    """An `alg: none` token, built by hand (PyJWT refuses to verify those, as it should)."""
    return f"{_part({'alg': 'none', 'typ': 'JWT', 'kid': 'local'})}.{_part(payload)}."


def hand_signed(header: dict, payload: dict) -> str:
    """Correctly HS256-signed, with a header PyJWT would not let us write."""
    signing_input = f"{_part(header)}.{_part(payload)}"
    mac = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def tampered(token: str) -> str:
    """The payload swapped for another user's, the original signature kept."""
    header, _, signature = token.split(".")
    return f"{header}.{_part(claims(role='admin', sub='someone-else'))}.{signature}"


def assert_unauthorized(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    reply = api.call("GET", "/auth/me", headers=headers)
    assert reply.status == 401, (header, reply.status, reply.body)
    assert reply.json["code"] == "unauthorized" and reply.json["message"], reply.json


def test_a_forged_token_with_this_shape_is_accepted(api, aws):
    # The control for the attacks below: the same forging path gives a working token.
    user_id, _ = make_user("admin")
    for token in (
        forge(claims(sub=user_id)),
        hand_signed({"alg": "HS256", "kid": "local"}, claims(sub=user_id)),
    ):
        reply = api.call("GET", "/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert reply.status == 200 and reply.json["id"] == user_id


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer ....",
        "Bearer \u00e9\u00e9.\u00e9.x",
    ],
)
def test_missing_or_malformed_header(api, aws, header):
    assert_unauthorized(api, header)


ATTACKS = {
    "expired": lambda: forge(claims(iat=int(time.time()) - 3600, exp=int(time.time()) - 60)),
    "bad signature": lambda: forge(key="another-secret-of-at-least-32-bytes!!"),
    "tampered payload": lambda: tampered(forge()),
    "wrong issuer": lambda: forge(claims(iss="evil")),
    "wrong audience": lambda: forge(claims(aud="another-api")),
    "refresh type": lambda: forge(claims(typ="refresh")),
    "no type": lambda: forge(claims(typ=None)),
    "alg none": lambda: unsigned(claims()),
    "HS512 same secret": lambda: forge(algorithm="HS512"),
    "HS384 same secret": lambda: forge(algorithm="HS384"),
    "unknown kid": lambda: forge(kid="other"),
    "no kid": lambda: forge(kid=None),
    "non-string kid": lambda: hand_signed({"alg": "HS256", "kid": ["local"]}, claims()),
    "header not an object": lambda: hand_signed(["HS256"], claims()),  # type: ignore[arg-type]
    "no exp": lambda: forge(claims(exp=None)),
    "no sub": lambda: forge(claims(sub=None)),
    "no iat": lambda: forge(claims(iat=None)),
    "no jti": lambda: forge(claims(jti=None)),
    "no iss": lambda: forge(claims(iss=None)),
    "no aud": lambda: forge(claims(aud=None)),
    "no role": lambda: forge(claims(role=None)),
    "unknown role": lambda: forge(claims(role="superadmin")),
    "role list": lambda: forge(claims(role=["admin"])),
    "numeric sub": lambda: forge(claims(sub=12345)),
    "issued in the future": lambda: forge(
        claims(iat=int(time.time()) + 3600, exp=int(time.time()) + 7200)
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_token_attacks_are_401(api, aws, attack):
    assert_unauthorized(api, f"Bearer {ATTACKS[attack]()}")


def test_a_refresh_token_is_not_an_access_token(api, aws):
    _, email = make_user("admin")
    session = api.login(email, PASSWORD)
    assert_unauthorized(api, f"Bearer {session['refresh_token']}")


def test_an_expired_real_token_is_refused(api, aws):
    _, email = make_user("customer")
    with mock.patch.object(clock, "now", return_value=time.time() - 16 * 60):
        token = api.login(email, PASSWORD)["access_token"]  # lived 15 minutes, a minute ago
    assert_unauthorized(api, f"Bearer {token}")


def test_a_valid_token_of_the_wrong_role_is_403(api, tokens):
    for role in ("staff", "customer"):
        reply = api.call("GET", "/users", token=tokens[role])
        assert reply.status == 403 and reply.json["code"] == "forbidden", reply.json
