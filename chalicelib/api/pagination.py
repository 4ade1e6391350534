"""Opaque cursors: the last key of a page, signed so that the server tells its own from garbage.

A `scope` (the list a cursor belongs to) is signed with the key, so that a cursor of one list is
refused by another (400) instead of starting it at a meaningless key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from chalicelib.auth.keys import key_ring
from chalicelib.errors import ValidationFailed
from chalicelib.store.pages import Page

_SIG_BYTES = 12


def _mac(payload: bytes, secret: str, scope: str) -> bytes:
    key = hashlib.sha256(b"automart-cursor:" + secret.encode()).digest()
    signed = scope.encode() + b"\0" + payload if scope else payload
    return hmac.new(key, signed, hashlib.sha256).digest()[:_SIG_BYTES]


def _signed_by_a_known_key(signature: bytes, payload: bytes, scope: str) -> bool:
    # Any key of the ring: a cursor handed out just before a key rotation keeps working.
    return any(
        hmac.compare_digest(signature, _mac(payload, secret, scope))
        for secret in key_ring().keys.values()
    )


def encode_cursor(last_key: str | None, scope: str = "") -> str | None:
    if last_key is None:
        return None
    payload = last_key.encode()
    signature = _mac(payload, key_ring().signing_key, scope)
    return base64.urlsafe_b64encode(signature + payload).decode().rstrip("=")


def decode_cursor(cursor: str | None, scope: str = "") -> str | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        signature, payload = raw[:_SIG_BYTES], raw[_SIG_BYTES:]
        if payload and _signed_by_a_known_key(signature, payload, scope):
            return payload.decode()
    except (ValueError, UnicodeDecodeError):
        pass
    raise ValidationFailed(
        "The cursor is not one this server produced",
        details=[{"field": "cursor", "message": "invalid cursor"}],
    )


def page_out(
    page: Page[Any], render: Callable[[Any], BaseModel], scope: str = ""
) -> dict[str, Any]:
    """The list shape of every list endpoint: {"items": [...], "next_cursor": ...}."""
    return {
        "items": [render(item).model_dump(mode="json") for item in page.items],
        "next_cursor": encode_cursor(page.last_key, scope),
    }
