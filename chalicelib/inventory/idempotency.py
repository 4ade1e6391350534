"""Idempotency-Key markers: one per caller, resource and key, written in the creating transaction.

A marker remembers which id the key created and a hash of the request body. It is read in the
same BatchGetItem as the rest of the request and put with `attribute_not_exists(key) OR
expires_at < now`, so of two concurrent duplicates exactly one transaction succeeds.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.transactions import TransactWrite

from chalicelib import clock
from chalicelib.errors import IdempotencyKeyReused, ValidationFailed
from chalicelib.store.models import IdempotencyMarker

LIFETIME = timedelta(hours=24)
# 1..128 printable ASCII characters (spaces inside only: HTTP trims them at the ends). The
# OpenAPI document publishes this same pattern.
KEY_PATTERN = r"^[\x21-\x7E]([\x20-\x7E]{0,126}[\x21-\x7E])?$"
KEY_RE = re.compile(KEY_PATTERN)


@dataclass(frozen=True)
class Intent:
    """What a create request promises: its marker key (None: no Idempotency-Key) and body hash."""

    marker_key: str | None
    body_hash: str


def validate_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not KEY_RE.fullmatch(raw):
        raise ValidationFailed(
            details=[
                {"field": "Idempotency-Key", "message": "must be 1..128 printable ASCII characters"}
            ]
        )
    return raw


def body_hash(body: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the validated body (key order and spacing do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def intent(caller_id: str, resource: str, key: str | None, body: dict[str, Any]) -> Intent:
    # The caller id comes first: keys of different callers never collide.
    marker_key = f"{caller_id}#{resource}#{key}" if key is not None else None
    return Intent(marker_key, body_hash(body))


def live(marker: IdempotencyMarker | None) -> IdempotencyMarker | None:
    """The marker if it has not expired (DynamoDB deletes expired items lazily)."""
    if marker is None or marker.expires_at.timestamp() < clock.now():
        return None
    return marker


def replayed_id(marker: IdempotencyMarker | None, wanted: Intent) -> str | None:
    """The id an earlier identical request created; 409 if the key came with another body."""
    marker = live(marker)
    if marker is None:
        return None
    if marker.body_hash != wanted.body_hash:
        raise IdempotencyKeyReused()
    return marker.resource_id


def read(wanted: Intent) -> IdempotencyMarker | None:
    assert wanted.marker_key is not None
    try:
        return IdempotencyMarker.get(wanted.marker_key, consistent_read=True)
    except IdempotencyMarker.DoesNotExist:
        return None


def add_marker(txn: TransactWrite, wanted: Intent, resource_id: str) -> None:
    assert wanted.marker_key is not None
    now = datetime.fromtimestamp(int(clock.now()), tz=UTC)
    marker = IdempotencyMarker(
        key=wanted.marker_key,
        resource_id=resource_id,
        body_hash=wanted.body_hash,
        expires_at=now + LIFETIME,
    )
    txn.save(
        marker,
        condition=IdempotencyMarker.key.does_not_exist() | (IdempotencyMarker.expires_at < now),
    )
