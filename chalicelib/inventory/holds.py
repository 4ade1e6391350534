"""Holds: units kept for a customer at checkout, then sold as an order or let go.

- A hold is one BatchGetItem (products, customer, marker) and one TransactWriteItems: each
  product's `held` rises under the condition that enough is available, and the hold is put.
  Stock does not move, so no movement is written.
- A conversion (`POST /sales-orders {hold_id}`) reads the hold, then the products, the customer,
  the marker and the hold again in one BatchGetItem, and writes one transaction: each line's
  `stock` and `held` fall (its `sale` movement), the order, and the hold marked converted under
  the condition that it is still active and not expired.
- A release (DELETE, or the sweep of expired holds) is one transaction per hold: each `held`
  falls, and the hold is marked released under the condition that it is still active.

DynamoDB's TTL is not used: it deletes within days, and deleting would not give the units back.
Active holds are in the sparse `expiring` index (sharded by `expiry_shard`, removed when the hold
ends), so the sweep reads only the holds that have expired. The admin's lists by status read
`by_status`, whose key is the status and the same shard: no partition takes every hold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from chalicelib import clock, observability
from chalicelib.errors import Busy, HoldExpired, HoldNotActive, NotFound, UnknownSku
from chalicelib.inventory import idempotency, owners, sales
from chalicelib.inventory.idempotency import Created, Intent, Undoable
from chalicelib.inventory.ledger import Cause
from chalicelib.inventory.stock import StockChanges, plan_take, recorded, same_product
from chalicelib.schemas.orders import HoldIn
from chalicelib.settings import get_settings
from chalicelib.store import db, shards
from chalicelib.store.models import CustomerRef, Hold, HoldLine, Product, SalesOrder
from chalicelib.store.pages import Page, newest_first
from chalicelib.store.transact import MAX_ITEMS, Reads, Slot, UnitOfWork, read_batch
from chalicelib.vocabulary import Caller, HoldStatus

log = logging.getLogger("automart")

HOLDS = Undoable(Hold, "released_at", "The hold created with this Idempotency-Key was released")
MISSING = "No hold has this id"
ACTIVE = str(HoldStatus.ACTIVE)


def now_ms() -> int:
    return int(clock.now() * 1000)


# From expires_at on, a hold is expired: the rule in Python and as conditions.
def _past_expiry(hold: Hold, at_ms: int) -> bool:
    return at_ms >= hold.expires_ms


def _expired_at(at_ms: int) -> Any:
    return Hold.expires_ms <= at_ms


def _unexpired_at(at_ms: int) -> Any:
    return Hold.expires_ms > at_ms


def status_of(hold: Hold) -> HoldStatus:
    """The status a client reads: an active hold past its expiry is expired."""
    if hold.status == ACTIVE and _past_expiry(hold, now_ms()):
        return HoldStatus.EXPIRED
    return HoldStatus(hold.status)


def _shard(hold_id: str) -> int:
    """The partition of a hold's entries in `by_status` and `expiring`."""
    return shards.shard_of(hold_id, get_settings().hold_shards)


def _end(uow: UnitOfWork, hold: Hold, status: HoldStatus, also: Any, condition: Any = None) -> Slot:
    """End an active hold (converted, released) in `uow`: its new status and `by_status` key,
    out of the expiry index, with `also` (its other action), if still active (and `condition`)."""
    actions = [
        Hold.status.set(str(status)),
        Hold.status_key.set(_status_key(status, _shard(hold.id))),
        Hold.expiry_shard.remove(),
        also,
    ]
    active = Hold.status == ACTIVE
    return uow.update(
        hold, actions, condition=active if condition is None else active & condition, name="hold"
    )


def _status_key(status: HoldStatus | str, shard: int) -> str:
    return f"{status}#{shard}"


# ---- create -----------------------------------------------------------------------------------


def create_hold(caller: Caller, body: HoldIn, wanted: Intent) -> Created[Hold]:
    """Hold every line or none: `held` rises where enough is available."""
    sales.refuse_repeated_skus(body.items)
    lines = [(line.sku, line.quantity) for line in body.items]
    customer_id = sales.customer_of(caller, body.customer_id)

    def build(hold_id: str, reads: Reads) -> Hold:
        customer = sales.read_customer(caller, reads, customer_id)
        sales.refuse_short(lines, reads)
        # Whole milliseconds, as the times read: expires_at is exactly created_at + ttl.
        created_ms = now_ms()
        expires_ms = created_ms + body.ttl_seconds * 1000
        return Hold(
            id=hold_id,
            status=ACTIVE,
            status_key=_status_key(ACTIVE, _shard(hold_id)),
            customer=CustomerRef(id=customer.id, email=customer.email, name=customer.name),
            items=[_line(reads.products[sku], quantity) for sku, quantity in lines],
            expires_at=clock.iso(expires_ms / 1000),
            expires_ms=expires_ms,
            created_at=clock.iso(created_ms / 1000),
            created_by=caller.id,
            body_hash=wanted.body_hash,
            customer_key=customer.id,
            recorder_key=caller.id,
            expiry_shard=_shard(hold_id),
        )

    result = idempotency.create_once(
        HOLDS,
        wanted,
        build,
        _keep_lines,
        skus=[sku for sku, _ in lines],
        user_ids=[customer_id],
        hot=True,
    )
    if result.created:
        observability.metric("HoldsCreated")
    return result


def _line(product: Product, quantity: int) -> HoldLine:
    """A hold line, with the parts of a sharded product it keeps its units in (chosen here, as
    read, so that the hold records where they are)."""
    return HoldLine(
        sku=product.sku,
        name=product.name,
        quantity=quantity,
        incarnation=product.incarnation,
        parts=recorded(plan_take(product, quantity), product),
    )


def _keep_lines(uow: UnitOfWork, hold: Hold, reads: Reads, alert: bool) -> StockChanges:
    changes = StockChanges(uow, hold.id, Cause(hold.created_by), alert=alert)
    for line in hold.items:
        changes.hold(reads.products[line.sku], int(line.quantity), line.parts)
    if _conversion_items(hold) > MAX_ITEMS and changes.gather():
        raise db.Contention()  # its lines gathered into fewer parts: plan them again
    return changes


def _conversion_items(hold: Hold) -> int:
    """The items its conversion writes: the order, the hold, a marker, and a movement and the
    parts of each line (a hold that could never be converted is not made)."""
    return 3 + sum(1 + len(line.parts or [None]) for line in hold.items)


# ---- read -------------------------------------------------------------------------------------


def _read(hold_id: str) -> Hold | None:
    try:
        return Hold.get(hold_id, consistent_read=True)
    except Hold.DoesNotExist:
        return None


def get_hold(caller: Caller, hold_id: str) -> Hold:
    hold = _read(hold_id)
    if hold is None or not owners.visible(hold, caller):
        raise NotFound(MISSING)
    return hold


def list_holds(
    caller: Caller,
    customer_id: str | None,
    status: HoldStatus | None,
    limit: int,
    after: str | None,
) -> Page[Hold]:
    """Newest first. An admin's list without a customer reads `by_status` (every shard of the
    statuses asked for); any other reads the caller's (or the customer's) indexes."""
    if status is None:
        stored = [str(s) for s in HoldStatus if s != HoldStatus.EXPIRED]
    elif status in (HoldStatus.ACTIVE, HoldStatus.EXPIRED):
        stored = [ACTIVE]  # expired is active past its expiry
    else:
        stored = [str(status)]
    every = [
        (Hold.by_status, _status_key(word, shard))
        for word in stored
        for shard in range(get_settings().hold_shards)
    ]
    sources = owners.list_sources(caller, customer_id, Hold, every)
    return newest_first(sources, Hold.id, limit, after, where=_status_is(status))


def _status_is(status: HoldStatus | None) -> Any:
    """The filter of a list by status (None: every hold)."""
    if status is None:
        return None
    if status == HoldStatus.ACTIVE:
        return (Hold.status == ACTIVE) & _unexpired_at(now_ms())
    if status == HoldStatus.EXPIRED:
        return (Hold.status == ACTIVE) & _expired_at(now_ms())
    return Hold.status == str(status)


# ---- convert ----------------------------------------------------------------------------------


def convert_hold(
    caller: Caller, hold_id: str, note: str | None, wanted: Intent
) -> Created[SalesOrder]:
    """The order of a hold's lines at the catalog's prices; the hold becomes converted."""
    seen = get_hold(caller, hold_id)  # its lines never change: the skus to read with it
    lines = [(line.sku, int(line.quantity)) for line in seen.items]

    def build(order_id: str, reads: Reads) -> SalesOrder:
        hold = reads.of(Hold).get(hold_id)
        if hold is None:
            raise NotFound(MISSING)
        refuse_ended(hold)
        gone = [
            line.sku
            for line in hold.items
            if same_product(reads.products, line.sku, line.incarnation) is None
        ]
        if gone:  # deleted or re-created since the hold: its units left with the product
            raise UnknownSku(details=[{"sku": sku} for sku in gone])
        customer = sales.read_customer(caller, reads, hold.customer.id)
        return sales.priced_order(
            order_id, caller, customer, lines, note, reads, wanted, hold_id=hold_id
        )

    def sell(uow: UnitOfWork, order: SalesOrder, reads: Reads, alert: bool) -> StockChanges:
        hold = reads.of(Hold)[hold_id]
        _end(uow, hold, HoldStatus.CONVERTED, Hold.order_id.set(order.id), _unexpired_at(now_ms()))
        changes = StockChanges(uow, order.id, Cause(order.created_by))
        for line in hold.items:
            changes.sell_held(reads.products[line.sku], int(line.quantity), line.parts)
        return changes  # a failed hold: read again, and `build` says why

    result = idempotency.create_once(
        sales.ORDERS,
        wanted,
        build,
        sell,
        skus=[sku for sku, _ in lines],
        user_ids=[seen.customer.id],
        also=[(Hold, hold_id)],
    )
    return sales.counted(result)


def refuse_ended(hold: Hold) -> None:
    """409 unless the hold is active: hold_expired past its expiry, else hold_not_active."""
    status = status_of(hold)
    if status == HoldStatus.EXPIRED:
        raise HoldExpired()
    if status != HoldStatus.ACTIVE:
        raise HoldNotActive()


# ---- release ----------------------------------------------------------------------------------


def release_hold(caller: Caller, hold_id: str) -> None:
    """DELETE: an active or expired hold is released; any other is 409 hold_not_active."""

    def attempt() -> None:
        hold = get_hold(caller, hold_id)
        if hold.status != ACTIVE:
            raise HoldNotActive()
        if not _release(hold):
            raise db.Contention()  # converted or released meanwhile: read again (then 409)

    db.with_retries(attempt, attempts=6)


def _release(hold: Hold, products: dict[str, Product] | None = None) -> bool:
    """Let every line's units go, in one transaction; False if the hold is no longer active.
    Lines of products deleted or re-created since are skipped (their units left with them)."""
    if products is None:
        products = read_batch([line.sku for line in hold.items]).products
    uow = UnitOfWork()
    mine = _end(uow, hold, HoldStatus.RELEASED, Hold.released_at.set(clock.iso()))
    changes = StockChanges(uow, hold.id, Cause(None))
    for line in hold.items:
        product = same_product(products, line.sku, line.incarnation)
        if product is None:
            changes.expect_gone(line.sku, line.incarnation)
        else:
            changes.release(product, int(line.quantity), line.parts)
    failed = uow.commit()
    if not failed:
        return True
    if mine in failed:
        return False
    changes.raise_for(failed)
    raise db.Contention()  # a product changed since the read: read again


# ---- expiry -----------------------------------------------------------------------------------

# A sweep stops starting new batches after this long (the schedule runs it again a minute later;
# an HTTP request must answer within its budget).
SWEEP_SECONDS = db.REQUEST_BUDGET_SECONDS / 2
SWEEP_BATCH = 100  # holds read in one BatchGetItem


def release_expired(budget_seconds: float = SWEEP_SECONDS) -> int:
    """Release every hold past its expiry; the number released.

    A Query per shard of the sparse `expiring` index (only active holds are in it, keyed by
    expiry: the cost grows with the expired holds), then per batch of 100 one BatchGetItem of
    the holds, one of their products, and one transaction per hold."""
    deadline = time.monotonic() + budget_seconds
    cutoff = now_ms()
    ids = [
        entry.id
        for shard in range(get_settings().hold_shards)
        for entry in Hold.expiring.query(shard, _expired_at(cutoff))
    ]
    released = 0
    for start in range(0, len(ids), SWEEP_BATCH):
        if time.monotonic() >= deadline:
            break
        released += _release_batch(ids[start : start + SWEEP_BATCH], cutoff)
    if released:
        observability.metric("HoldsExpired", released)
    return released


def _release_batch(ids: Iterable[str], cutoff: int) -> int:
    holds = read_batch(also=[(Hold, hold_id) for hold_id in ids]).of(Hold)
    # The index is eventually consistent: each hold as read now decides.
    expired = [h for h in holds.values() if h.status == ACTIVE and _past_expiry(h, cutoff)]
    products = read_batch({line.sku for hold in expired for line in hold.items}).products
    return sum(1 for hold in expired if _release_expired_one(hold, products))


def _release_expired_one(hold: Hold, products: dict[str, Product]) -> bool:
    """Released now (False: ended meanwhile, or its products too contended this time: the next
    sweep tries again, and one busy product does not stop the others' releases)."""
    attempts = iter(range(6))

    def attempt() -> bool:
        # The first attempt uses the batch's read; a retry reads the products again.
        return _release(hold, products if next(attempts) == 0 else None)

    try:
        return db.with_retries(attempt, attempts=6)
    except Busy:
        log.warning("could not release expired hold %s this sweep", hold.id, exc_info=True)
        return False
