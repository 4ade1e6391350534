"""Password hashing: argon2id (argon2-cffi) at OWASP's recommended cost; old scrypt hashes are
still read, and `needs_rehash` tells the login to upgrade them.

argon2id at 19 MiB and 2 passes costs about a sixth of scrypt at OWASP's equal setting
(N=2^14, r=8, p=5) on the same CPU (`make bench`), so each login is cheaper and stronger.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from argon2 import PasswordHasher

_SCRYPT_PREFIX = "scrypt$"  # hashes written before argon2id: scrypt$N$salt$digest, r=8 p=1


@lru_cache(maxsize=4)
def _hasher(memory_kib: int, time_cost: int) -> PasswordHasher:
    # Imported here: cffi's import costs a cold start that never sees a password ~30 ms.
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def _current() -> PasswordHasher:
    settings = get_settings()
    return _hasher(settings.argon2_memory_kib, settings.argon2_time_cost)


def hash_password(password: str) -> str:
    return _current().hash(password)


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        _, n, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=8,
            p=1,
            maxmem=2**26,
            dklen=32,
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith(_SCRYPT_PREFIX):
        return _verify_scrypt(password, stored)
    from argon2.exceptions import Argon2Error, InvalidHashError

    try:
        return _current().verify(stored, password)
    except (Argon2Error, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True for an old scrypt hash or one made at other argon2 parameters than today's."""
    if stored.startswith(_SCRYPT_PREFIX):
        return True
    try:
        return _current().check_needs_rehash(stored)
    except ValueError:
        return True


@lru_cache(maxsize=4)
def _dummy_hash(memory_kib: int, time_cost: int) -> str:
    return _hasher(memory_kib, time_cost).hash("automart-dummy-password")


def burn_time(password: str) -> None:
    """Spend what a real check costs, so unknown emails cannot be told apart by timing."""
    settings = get_settings()
    verify_password(password, _dummy_hash(settings.argon2_memory_kib, settings.argon2_time_cost))
