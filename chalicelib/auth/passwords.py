"""Password hashing with the stdlib's memory-hard scrypt; constant-time comparison."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from chalicelib.settings import get_settings

_R, _P = 8, 1


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _derive(password: str, salt: bytes, n: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=_R, p=_P, maxmem=2**26, dklen=32)


def hash_password(password: str) -> str:
    n = get_settings().scrypt_n
    salt = secrets.token_bytes(16)
    return f"scrypt${n}${_b64(salt)}${_b64(_derive(password, salt, n))}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = _derive(password, base64.b64decode(salt), int(n))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def burn_time(password: str) -> None:
    """Spend what a real check costs, so unknown emails cannot be told apart by timing."""
    _derive(password, b"automart-dummy-salt", get_settings().scrypt_n)
