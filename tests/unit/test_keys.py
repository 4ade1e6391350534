"""Signing keys from SSM (read once per cold start, rotation) and password hashing."""

from __future__ import annotations

import base64
import json
import re
from unittest import mock

import boto3
import jwt
import pytest
from moto import mock_aws

from chalicelib.auth import keys, passwords, tokens
from chalicelib.settings import get_settings, reset_settings

PARAMETER = "/automart/test/jwt-keys"
OLD, NEW = "k-2025", "k-2026"
SECRETS = {OLD: "o" * 48, NEW: "n" * 48}


@pytest.fixture()
def ssm(monkeypatch):
    """moto's SSM holding the key ring; JWT_KEYS_PARAMETER set as in AWS."""
    monkeypatch.setenv("JWT_KEYS_PARAMETER", PARAMETER)
    monkeypatch.delenv("JWT_KEYS")
    reset_settings()
    keys.forget_keys()
    with mock_aws():
        client = boto3.client("ssm", region_name=get_settings().region)

        def publish(current: str, *kids: str) -> None:
            ring = {"current": current, "keys": {kid: SECRETS[kid] for kid in kids}}
            client.put_parameter(
                Name=PARAMETER, Value=json.dumps(ring), Type="SecureString", Overwrite=True
            )

        yield publish
    reset_settings()
    keys.forget_keys()  # the next test reads JWT_KEYS again


@pytest.fixture()
def reads():
    with mock.patch.object(keys, "_read_parameter", wraps=keys._read_parameter) as spy:
        yield spy


def cold_start() -> None:
    keys.forget_keys()


def test_the_ring_is_read_once_per_cold_start(ssm, reads):
    ssm(OLD, OLD)
    for _ in range(5):
        token = tokens.issue_access_token("01HUSER", "staff")
        assert tokens.verify_access_token(token).role == "staff"
    assert reads.call_count == 1
    reads.assert_called_with(PARAMETER)
    assert jwt.get_unverified_header(token)["kid"] == OLD
    # Signed with the secret from SSM (decrypted), nothing else.
    jwt.decode(token, SECRETS[OLD], algorithms=["HS256"], audience="automart-api")
    cold_start()
    tokens.verify_access_token(token)
    assert reads.call_count == 2


def test_rotation_keeps_tokens_of_a_listed_key(ssm, reads):
    ssm(OLD, OLD)
    old_token = tokens.issue_access_token("01HUSER", "admin")
    ssm(NEW, NEW, OLD)  # new key current, old one still listed
    cold_start()
    new_token = tokens.issue_access_token("01HUSER", "admin")
    assert jwt.get_unverified_header(new_token)["kid"] == NEW
    assert tokens.verify_access_token(old_token).id == "01HUSER"
    assert tokens.verify_access_token(new_token).id == "01HUSER"
    ssm(NEW, NEW)  # the old key dropped once its tokens have expired
    cold_start()
    with pytest.raises(tokens.InvalidToken):
        tokens.verify_access_token(old_token)
    assert tokens.verify_access_token(new_token).role == "admin"


def test_a_token_with_the_right_kid_but_another_keys_secret_fails(ssm):
    ssm(NEW, NEW, OLD)
    forged = jwt.encode(
        jwt.decode(tokens.issue_access_token("u", "admin"), options={"verify_signature": False}),
        SECRETS[OLD],
        algorithm="HS256",
        headers={"kid": NEW},
    )
    with pytest.raises(tokens.InvalidToken):
        tokens.verify_access_token(forged)


def test_key_ring_parsing():
    bare = keys.parse_key_ring("  a-bare-secret ")
    assert bare == keys.KeyRing("local", {"local": "a-bare-secret"})
    ring = keys.parse_key_ring(json.dumps({"current": "b", "keys": {"a": "1", "b": "2"}}))
    assert ring.signing_key == "2"
    with pytest.raises(ValueError):
        keys.parse_key_ring(json.dumps({"current": "c", "keys": {"a": "1"}}))
    with pytest.raises(RuntimeError), mock.patch.dict("os.environ", {"JWT_KEYS": ""}):
        reset_settings()
        keys.forget_keys()
        keys.key_ring()
    reset_settings()
    keys.forget_keys()


# ---- passwords ----------------------------------------------------------------------------------

HASH_RE = re.compile(r"scrypt\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)")


def test_scrypt_format_and_salt():
    stored = passwords.hash_password("correct horse")
    match = HASH_RE.fullmatch(stored)
    assert match, stored
    assert int(match.group(1)) == get_settings().scrypt_n
    assert len(base64.b64decode(match.group(2))) == 16
    assert len(base64.b64decode(match.group(3))) == 32
    assert passwords.hash_password("correct horse") != stored  # a fresh salt each time
    assert passwords.verify_password("correct horse", stored)
    assert not passwords.verify_password("correct horsE", stored)
    assert not passwords.verify_password("", stored)


def test_the_work_factor_is_read_from_the_hash(monkeypatch):
    stored = passwords.hash_password("pw-12345")
    monkeypatch.setenv("SCRYPT_N", "2048")
    reset_settings()
    try:
        assert passwords.hash_password("x").startswith("scrypt$2048$")
        assert passwords.verify_password("pw-12345", stored)  # old hashes keep working
    finally:
        monkeypatch.undo()
        reset_settings()


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain",
        "scrypt$1024$abc",
        "scrypt$x$AAAA$AAAA",
        "scrypt$1000$AAAA$AAAA",
        "scrypt$1024$!!$!!",
        "bcrypt$2b$12$abc",
    ],
)
def test_malformed_hashes_never_verify(stored):
    assert passwords.verify_password("anything", stored) is False


def test_comparison_is_constant_time():
    stored = passwords.hash_password("pw-12345")
    with mock.patch.object(
        passwords.hmac, "compare_digest", wraps=passwords.hmac.compare_digest
    ) as compare:
        assert passwords.verify_password("pw-12345", stored)
        assert not passwords.verify_password("other-pw", stored)
    assert compare.call_count == 2


def test_burn_time_costs_what_a_check_costs():
    with mock.patch.object(passwords, "_derive", wraps=passwords._derive) as derive:
        passwords.burn_time("whatever")
        passwords.verify_password("whatever", passwords.hash_password("x"))
    work = [call.args[2] for call in derive.call_args_list]
    assert work[0] == work[-1] == get_settings().scrypt_n
