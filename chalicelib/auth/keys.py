"""JWT signing keys: an environment variable locally, an SSM SecureString in AWS.

Read once per cold start. The value is JSON `{"current": "<kid>", "keys": {"<kid>": "<secret>"}}`
so that a new key can be added, made current, and the old one dropped after the token lifetime.
A bare string is accepted locally as a single key with kid "local".
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from chalicelib.settings import get_settings


@dataclass(frozen=True)
class KeyRing:
    current: str
    keys: dict[str, str]

    @property
    def signing_key(self) -> str:
        return self.keys[self.current]


def parse_key_ring(raw: str) -> KeyRing:
    raw = raw.strip()
    if not raw.startswith("{"):
        return KeyRing("local", {"local": raw})
    data = json.loads(raw)
    ring = KeyRing(str(data["current"]), {str(k): str(v) for k, v in data["keys"].items()})
    if ring.current not in ring.keys:
        raise ValueError("the current kid has no key")
    return ring


_lock = threading.Lock()
_ring: KeyRing | None = None


def _read_parameter(name: str) -> str:
    import botocore.session  # only in AWS: keeps it off the local cold path

    settings = get_settings()
    ssm = botocore.session.get_session().create_client(
        "ssm", region_name=settings.region, endpoint_url=settings.ssm_endpoint
    )
    return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]


def key_ring() -> KeyRing:
    global _ring
    if _ring is None:
        with _lock:
            if _ring is None:
                settings = get_settings()
                if settings.jwt_keys_parameter:
                    raw = _read_parameter(settings.jwt_keys_parameter)
                elif settings.jwt_keys:
                    raw = settings.jwt_keys
                else:
                    raise RuntimeError("set JWT_KEYS (local) or JWT_KEYS_PARAMETER (AWS)")
                _ring = parse_key_ring(raw)
    return _ring


def forget_keys() -> None:
    global _ring
    _ring = None
