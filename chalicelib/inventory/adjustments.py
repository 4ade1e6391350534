"""Adjustments: a counted or corrected stock level, with its reason, note and actor.

One BatchGetItem (the product and the Idempotency-Key marker) and one TransactWriteItems: the
product's stock, the `adjustment` movement and the marker.

- A `change` without `expected_stock` is an `ADD` (`stock.StockChanges`, as a sale or a
  purchase): it applies to whatever the stock is when it commits, and a removal is conditional
  on `available >= units` (stock never goes below what holds keep).
- A `set_to`, an `expected_stock`, or catalog fields sent with it (PUT and PATCH) write under
  the condition that the stock (and threshold) is still what was read. A sale landing in between
  makes the write fail and the adjustment read again: with `expected_stock` it then answers 409
  `stock_changed`, a `set_to` counts from the new stock. It never overwrites a sale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.alerts import episodes
from chalicelib.errors import InsufficientStock, NotFound, StockChanged, ValidationFailed
from chalicelib.inventory import catalog, idempotency, ledger
from chalicelib.inventory.idempotency import Created, Intent
from chalicelib.inventory.stock import StockChanges, plan_give, plan_take
from chalicelib.schemas import MAX_STOCK
from chalicelib.store import parts
from chalicelib.store.models import Product, StockPart
from chalicelib.store.transact import Reads, UnitOfWork, read_batch
from chalicelib.vocabulary import AdjustmentReason, MovementKind


@dataclass(frozen=True)
class Adjustment:
    """Exactly one of `change` (units in or out) and `set_to` (the counted level)."""

    reason: AdjustmentReason
    change: int | None = None
    set_to: int | None = None
    expected_stock: int | None = None
    note: str | None = None


def adjust(
    actor: str,
    sku: str,
    adjustment: Adjustment,
    wanted: Intent,
    fields: dict[str, Any] | None = None,
) -> Created[Product]:
    """Apply `adjustment` (and any catalog `fields` with it, for PUT and PATCH) in one write."""
    fields = fields or {}
    cause = ledger.Cause(actor, str(adjustment.reason), adjustment.note)
    relative = adjustment.change is not None and adjustment.expected_stock is None and not fields

    def read_for(marker_key: str | None) -> Reads:
        return read_batch([sku], marker_key=marker_key)

    def write(uow: UnitOfWork, reads: Reads, change_id: str) -> tuple[Product, Any]:
        before = reads.products.get(sku)
        if before is None:
            raise NotFound("No product has this sku")
        stock = _target(before, adjustment)
        if relative:
            return _add(uow, before, stock, cause)
        return _set(uow, before, stock, fields, cause, change_id)

    def answer() -> Product:
        return catalog.get_product(sku)

    return idempotency.change_once(wanted, read_for, write, answer)


def _add(uow: UnitOfWork, before: Product, stock: int, cause: ledger.Cause) -> tuple[Product, Any]:
    """Units in or out as an `ADD`; the answer is the product as read, plus the change."""
    change = stock - int(before.stock)
    changes = StockChanges(uow, None, cause, alert=False)
    after = _after(before, {}, stock)
    if change < 0:
        changes.take(before, -change, MovementKind.ADJUSTMENT)
        if episodes.is_low(after.available, after.low_stock_threshold):
            uow.after_commit(lambda: episodes.after_write(before, after))
    else:  # give() resolves the episode of a product it takes out of low stock
        changes.give(before, change, MovementKind.ADJUSTMENT)
    return after, changes.raise_for


def _set(
    uow: UnitOfWork,
    before: Product,
    stock: int,
    fields: dict[str, Any],
    cause: ledger.Cause,
    change_id: str,
) -> tuple[Product, Any]:
    """The stock (and fields) set under the condition that the stock is as read, and not below
    what is held now. Headroom moves by the difference, so a hold landing in between stays
    counted."""
    if parts.is_sharded(before):
        return _set_parts(uow, before, stock, fields, cause, change_id)
    after = _after(before, fields, stock)
    actions = catalog.field_actions(before.sku, fields, after.updated_at) + [
        Product.stock.set(stock),
        Product.headroom.add(int(after.headroom) - int(before.headroom)),
    ]
    uow.update(
        before,
        actions,
        condition=(Product.stock == before.stock)
        & (Product.low_stock_threshold == before.low_stock_threshold)
        & (Product.incarnation == before.incarnation)
        & (Product.held.does_not_exist() | (Product.held <= stock))
        & parts.same_layout(before),
    )
    ledger.add_movement(
        uow,
        before.sku,
        before.incarnation,
        MovementKind.ADJUSTMENT,
        stock - int(before.stock),
        None,
        cause,
        movement_id=change_id,
    )
    uow.after_commit(lambda: episodes.after_write(before, after))
    return after, idempotency.read_again  # changed since the read: read again


def _set_parts(
    uow: UnitOfWork,
    before: Product,
    stock: int,
    fields: dict[str, Any],
    cause: ledger.Cause,
    change_id: str,
) -> tuple[Product, Any]:
    """`_set` for a product in stock parts: the difference given to the emptiest part or taken
    from the parts that have it, under the condition that every part's stock is as read."""
    after = _after(before, fields, stock)
    change = stock - int(before.stock)
    plan: dict[int, int] = {}  # part -> units in (> 0) or out (< 0); none for no change
    if change > 0:
        plan = {plan_give(before).index: change}
    elif change < 0:
        plan = {part.index: -units for part, units in plan_take(before, -change)}
    own, *others = parts.whole(before)
    mine = plan.get(own.index, 0)
    threshold = int(before.low_stock_threshold)
    condition = (
        (Product.stock == own.stock)
        & (Product.low_stock_threshold == threshold)
        & (Product.incarnation == before.incarnation)
        & parts.same_layout(before)
    )
    if mine < 0:  # part 0 gives units: it must still have them available (holds may land)
        condition &= Product.headroom >= -mine - threshold
    threshold_moved = threshold - int(after.low_stock_threshold)
    uow.update(
        before,
        catalog.field_actions(before.sku, fields, after.updated_at)
        + [Product.stock.add(mine), Product.headroom.add(mine + threshold_moved)],
        condition=condition,
    )
    for part in others:
        same = StockPart.stock == part.stock
        if part.index in plan:
            units = plan[part.index]
            needs = max(0, -units)
            parts.update_part(uow, before, part, stock=units, needs_available=needs, condition=same)
        else:
            uow.check(StockPart, parts.part_key(before.sku, part.index), condition=same)
    ledger.add_movement(
        uow,
        before.sku,
        before.incarnation,
        MovementKind.ADJUSTMENT,
        change,
        None,
        cause,
        movement_id=change_id,
        part=next(iter(plan), 0),
    )
    uow.after_commit(lambda: episodes.after_write(before, after))
    return after, idempotency.read_again


def _after(before: Product, fields: dict[str, Any], stock: int) -> Product:
    """The product once this write applied to it as read (known without reading it back)."""
    threshold = fields.get("low_stock_threshold", before.low_stock_threshold)
    return Product(
        **{
            **before.attribute_values,
            **fields,
            **catalog.keys(before.sku, fields.get("name", before.name)),
            "stock": stock,
            "headroom": stock - int(before.held) - threshold,
            "updated_at": clock.iso(),
        }
    )


def _target(product: Product, adjustment: Adjustment) -> int:
    """The stock this adjustment makes: 409 when the product is not as the client saw it or
    would go below what is held (or 0), 400 above the stock limit."""
    stock = int(product.stock)
    expected = adjustment.expected_stock
    if expected is not None and expected != stock:
        raise StockChanged(details=[{"sku": product.sku, "expected": expected, "actual": stock}])
    if adjustment.set_to is not None:
        target = adjustment.set_to
    else:
        assert adjustment.change is not None
        target = stock + adjustment.change
    if target < int(product.held):
        raise InsufficientStock(
            details=[
                {"sku": product.sku, "requested": stock - target, "available": product.available}
            ]
        )
    if target > MAX_STOCK:
        raise ValidationFailed(
            details=[{"field": "change", "message": f"stock would exceed {MAX_STOCK}"}]
        )
    return target
