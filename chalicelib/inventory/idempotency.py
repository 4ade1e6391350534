"""Idempotent writes: `create_once` (an order, a purchase), `change_once` (an adjustment, a
return), and the Idempotency-Key markers they write.

A marker (one per caller, resource and key) remembers which id the key made and a hash of the
request body. It is read in the same BatchGetItem as the rest of the request and put, in the
creating transaction, with `attribute_not_exists(key) OR expires_at < now`, so of two concurrent
duplicates exactly one transaction succeeds.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from chalicelib import clock
from chalicelib.errors import (
    IdempotencyKeyReused,
    InsufficientStock,
    NotFound,
    UnknownSku,
    ValidationFailed,
)
from chalicelib.inventory import stock
from chalicelib.store import db
from chalicelib.store.models import IdempotencyMarker
from chalicelib.store.transact import Failures, Reads, Slot, TooLarge, UnitOfWork, read_batch

M = TypeVar("M")

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


# A write without an Idempotency-Key (PATCH of stock, the CSV import): no marker.
NO_KEY = Intent(None, "")


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


def unexpired(marker: IdempotencyMarker | None) -> IdempotencyMarker | None:
    """The marker if it has not expired (DynamoDB deletes expired items lazily)."""
    if marker is None or marker.expires_at.timestamp() < clock.now():
        return None
    return marker


def replayed_id(marker: IdempotencyMarker | None, wanted: Intent) -> str | None:
    """The id an earlier identical request created; 409 if the key came with another body."""
    marker = unexpired(marker)
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


def add_marker(uow: UnitOfWork, wanted: Intent, resource_id: str) -> Slot:
    assert wanted.marker_key is not None
    now = datetime.fromtimestamp(int(clock.now()), tz=UTC)
    marker = IdempotencyMarker(
        key=wanted.marker_key,
        resource_id=resource_id,
        body_hash=wanted.body_hash,
        expires_at=now + LIFETIME,
    )
    return uow.put(
        marker,
        condition=IdempotencyMarker.key.does_not_exist() | (IdempotencyMarker.expires_at < now),
        name="marker",
    )


# ---- create once ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Created(Generic[M]):
    item: M
    created: bool  # False: the answer to an earlier request with the same key (a replay)


@dataclass(frozen=True)
class Undoable(Generic[M]):
    """A resource that is created once and may be undone later (an order, a purchase)."""

    model: type[M]
    ended: str  # the attribute that marks it undone: cancelled_at, reversed_at
    undone: str  # the 404 message for a replay whose creation was undone since

    def live(self, item_id: str, missing: str) -> M:
        """The item (strongly consistent), unless it does not exist or was undone: 404."""
        item = db.get_live(self.model, item_id, self.ended)
        if item is None:
            raise NotFound(missing)
        return item

    def add_undo(
        self, uow: UnitOfWork, item: M, index_keys: Iterable[Any], also: Any = None
    ) -> Slot:
        """Mark `item` undone, once, and drop it from the lists (their index keys removed);
        `also`: one more condition it must meet."""
        ended = getattr(self.model, self.ended)
        key = self.model.id  # type: ignore[attr-defined]
        actions = [ended.set(clock.iso()), *(attribute.remove() for attribute in index_keys)]
        condition = ended.does_not_exist() & key.exists()
        if also is not None:
            condition &= also
        return uow.update(item, actions, condition=condition, name="undo")


class RaisesForFailures(Protocol):
    def raise_for(self, failed: Failures) -> None: ...

    def gather(self) -> bool: ...


Build = Callable[[str, Reads], M]  # (new id, what was read) -> the new item, or a domain error
AddWrites = Callable[[UnitOfWork, M, Reads, bool], RaisesForFailures]  # ... alert -> its side


def create_once(
    resource: Undoable[M],
    wanted: Intent,
    build: Build[M],
    add_writes: AddWrites[M],
    skus: Iterable[str] = (),
    user_ids: Iterable[str] = (),
    also: Iterable[tuple[Any, str]] = (),
    hot: bool = False,
) -> Created[M]:
    """Create an item at most once per Idempotency-Key, with whatever `add_writes` adds to its
    transaction (the stock it moves), in one BatchGetItem and one TransactWriteItems. `also`:
    more items `build` reads in the same BatchGetItem (the hold an order is made from).

    One id serves every attempt: an attempt that finds it written knows an earlier attempt of
    this request committed (its answer was lost), and must not write again. A replay answers the
    item the key created (404 if undone since); the same key with another body is 409.
    """
    new_id = clock.new_id()
    skus, user_ids = list(skus), list(user_ids)
    items = [(resource.model, new_id), *also]
    attempts = itertools.count()

    def attempt() -> Created[M]:
        # `hot` (a sale, a hold): the first read of a flash-sale sku is eventually consistent
        # (`read_batch`), a retry's is not.
        first = next(attempts) == 0
        reads = read_batch(skus, user_ids, wanted.marker_key, also=items, hot=hot and first)
        earlier = reads.of(resource.model).get(new_id)
        if earlier is not None:
            return Created(earlier, True)
        replay = replayed_id(reads.marker, wanted)
        if replay is not None:
            return _answer(resource, replay, created=False)
        try:
            item = build(new_id, reads)
        except (InsufficientStock, UnknownSku):
            if reads.eventual:
                raise db.Contention() from None  # a 409 or 422 is said from a consistent read
            raise
        return stock.with_alerts(
            lambda alert: _write(resource, wanted, item, reads, add_writes, alert)
        )

    return db.with_retries(attempt, attempts=6)


def _write(
    resource: Undoable[M],
    wanted: Intent,
    item: M,
    reads: Reads,
    add_writes: AddWrites[M],
    alert: bool,
) -> Created[M]:
    item_id: str = item.id  # type: ignore[attr-defined]
    uow = UnitOfWork()
    mine = uow.put(item, condition=resource.model.id.does_not_exist(), name="new")  # type: ignore[attr-defined]
    marker = add_marker(uow, wanted, item_id) if wanted.marker_key else None
    side = add_writes(uow, item, reads, alert)
    try:
        failed = uow.commit()
    except TooLarge:
        if side.gather():  # lines over many parts: gathered into one part each, read again
            raise db.Contention() from None
        raise
    if not failed:
        return Created(item, True)
    if mine in failed:  # written by an earlier attempt whose answer was lost
        return _answer(resource, item_id, created=True)
    if marker in failed:  # the same key, sent twice at once: the other one won
        replay = _winner(wanted)
        return _answer(resource, replay, created=replay == item_id)
    side.raise_for(failed)
    raise db.Contention()  # changed since the read: read again


def _winner(wanted: Intent) -> str:
    """After our marker's condition failed: the id the request that won with this key made."""
    replay = replayed_id(read(wanted), wanted)
    if replay is None:
        raise db.Contention()  # the winning marker expired at once: start over
    return replay


def _answer(resource: Undoable[M], item_id: str, created: bool) -> Created[M]:
    return Created(resource.live(item_id, resource.undone), created)


# ---- change once ------------------------------------------------------------------------------

R = TypeVar("R")
ReadFor = Callable[[str | None], Reads]  # marker key -> one BatchGet with what the change needs
# (unit of work, what was read, the change's id) -> the result if it commits, and the sorting
# of its failed conditions (raises the domain error; returning means "read again").
WriteChange = Callable[[UnitOfWork, Reads, str], tuple[R, Callable[[Failures], None]]]


def change_once(
    wanted: Intent,
    read_for: ReadFor,
    write: WriteChange[R],
    answer: Callable[[], R],
    attempts: int = 8,
) -> Created[R]:
    """Change existing items (an adjustment, a return) at most once per Idempotency-Key.

    Each attempt has its own change id (an adjustment's movement takes it, so the ledger stays in
    time order), and the marker remembers the id of the attempt that committed: a replay, or an
    attempt that lost the race for its own key, answers `answer()` (the items as they are now).
    """

    def attempt() -> Created[R]:
        change_id = clock.new_id()
        reads = read_for(wanted.marker_key)
        replay = replayed_id(reads.marker, wanted)
        if replay is not None:
            return Created(answer(), False)
        uow = UnitOfWork()
        marker = add_marker(uow, wanted, change_id) if wanted.marker_key else None
        result, sort = write(uow, reads, change_id)
        failed = uow.commit()
        if not failed:
            return Created(result, True)
        if marker in failed:
            return Created(answer(), _winner(wanted) == change_id)
        sort(failed)
        raise db.Contention()

    return db.with_retries(attempt, attempts=attempts)


def read_again(failed: Failures) -> None:
    """The sorting of a change whose every failed condition means "changed since the read"."""
