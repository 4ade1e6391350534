"""Signing keys from SSM (read once per cold start, rotation) and password hashing."""

from __future__ import annotations

import json
from unittest import mock

import boto3
import jwt
import pytest
from moto import mock_aws

from chalicelib.auth import keys, tokens
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
