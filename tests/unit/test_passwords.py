"""Password hashing: argon2id at the configured cost; old scrypt hashes still read (pure)."""

from __future__ import annotations

import base64
import hashlib
import re
from unittest import mock

import pytest

from chalicelib.auth import passwords
from chalicelib.settings import get_settings, reset_settings

ARGON2_RE = re.compile(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=1\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)")


def scrypt_hash(password: str, n: int = 2**10) -> str:
    """A hash as the code before argon2id wrote them."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, maxmem=2**26, dklen=32)
    return f"scrypt${n}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@pytest.fixture()
def cost(monkeypatch: pytest.MonkeyPatch):
    """Change the configured argon2 cost for one test."""

    def set_cost(memory_kib: int, time_cost: int) -> None:
        monkeypatch.setenv("ARGON2_MEMORY_KIB", str(memory_kib))
        monkeypatch.setenv("ARGON2_TIME_COST", str(time_cost))
        reset_settings()

    yield set_cost
    monkeypatch.undo()
    reset_settings()


def test_argon2id_format_parameters_and_salt():
    stored = passwords.hash_password("correct horse")
    match = ARGON2_RE.fullmatch(stored)
    assert match, stored
    settings = get_settings()
    assert (int(match[1]), int(match[2])) == (settings.argon2_memory_kib, settings.argon2_time_cost)
    assert passwords.hash_password("correct horse") != stored  # a fresh salt each time
    assert passwords.verify_password("correct horse", stored)
    assert not passwords.verify_password("correct horsE", stored)
    assert not passwords.verify_password("", stored)
    assert not passwords.needs_rehash(stored)


def test_production_defaults_meet_owasp(monkeypatch):
    """OWASP's password storage cheat sheet: argon2id with at least 19 MiB and 2 passes."""
    monkeypatch.delenv("ARGON2_MEMORY_KIB")
    monkeypatch.delenv("ARGON2_TIME_COST")
    reset_settings()
    try:
        assert get_settings().argon2_memory_kib >= 19 * 1024
        assert get_settings().argon2_time_cost >= 2
    finally:
        monkeypatch.undo()
        reset_settings()


def test_a_cost_change_keeps_old_hashes_and_asks_for_a_rehash(cost):
    cost(256, 1)
    old = passwords.hash_password("pw-12345")
    cost(512, 2)
    new = passwords.hash_password("pw-12345")
    assert ARGON2_RE.fullmatch(new).group(1, 2) == ("512", "2")  # type: ignore[union-attr]
    assert passwords.verify_password("pw-12345", old)  # the parameters are read from the hash
    assert passwords.needs_rehash(old) and not passwords.needs_rehash(new)


def test_old_scrypt_hashes_verify_and_need_a_rehash():
    old = scrypt_hash("pw-12345")
    assert passwords.verify_password("pw-12345", old)
    assert not passwords.verify_password("pw-12346", old)
    assert passwords.needs_rehash(old)


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
        "$argon2id$v=19$m=256,t=1,p=1$AAAA",
        "$argon2id$v=19$m=256,t=1,p=1$!!!!$!!!!",
    ],
)
def test_malformed_hashes_never_verify(stored):
    assert passwords.verify_password("anything", stored) is False
    assert passwords.needs_rehash(stored)


def test_scrypt_comparison_is_constant_time():
    old = scrypt_hash("pw-12345")
    with mock.patch.object(
        passwords.hmac, "compare_digest", wraps=passwords.hmac.compare_digest
    ) as compare:
        assert passwords.verify_password("pw-12345", old)
        assert not passwords.verify_password("other-pw", old)
    assert compare.call_count == 2


def test_burn_time_costs_what_a_check_costs(cost):
    """The dummy check runs argon2 at today's parameters, as a real check of a fresh hash."""
    cost(384, 2)
    with mock.patch("argon2.PasswordHasher.verify", autospec=True, return_value=True) as verify:
        passwords.burn_time("whatever")
        passwords.verify_password("whatever", passwords.hash_password("x"))
    burnt, real = (ARGON2_RE.fullmatch(call.args[1]) for call in verify.call_args_list)
    assert burnt and real and burnt.group(1, 2) == real.group(1, 2) == ("384", "2")
