"""Adjustments: a counted or corrected stock level, with its reason, note and actor.

One BatchGetItem (the product and the Idempotency-Key marker) and one TransactWriteItems: the
product's stock under the condition that it is still what was read, the `adjustment` movement
and the marker. A sale landing in between makes the write fail and the adjustment read again:
with `expected_stock` it then answers 409 `stock_changed`, without it it applies to the new
stock. It never overwrites a sale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.alerts import episodes
from chalicelib.errors import InsufficientStock, NotFound, StockChanged, ValidationFailed
from chalicelib.inventory import catalog, idempotency, ledger
from chalicelib.inventory.idempotency import Created, Intent
from chalicelib.store.models import Product
from chalicelib.store.transact import Failures, Reads, UnitOfWork, read_batch
from chalicelib.vocabulary import AdjustmentReason, MovementKind

MAX_STOCK = 1_000_000_000


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

    def read_for(marker_key: str | None) -> Reads:
        return read_batch([sku], marker_key=marker_key)

    def write(uow: UnitOfWork, reads: Reads, change_id: str) -> tuple[Product, Any]:
        before = reads.products.get(sku)
        if before is None:
            raise NotFound("No product has this sku")
        stock = _target(before, adjustment)
        threshold = fields.get("low_stock_threshold", before.low_stock_threshold)
        now = clock.iso()
        actions = catalog.field_actions(sku, fields, now) + [
            Product.stock.set(stock),
            Product.headroom.set(stock - threshold),
        ]
        # Optimistic: it applies to the stock and threshold read (headroom is computed from
        # both), or it is read again.
        uow.update(
            before,
            actions,
            condition=(Product.stock == before.stock)
            & (Product.low_stock_threshold == before.low_stock_threshold)
            & (Product.incarnation == before.incarnation),
        )
        ledger.add_movement(
            uow,
            sku,
            before.incarnation,
            MovementKind.ADJUSTMENT,
            stock - int(before.stock),
            None,
            cause,
            movement_id=change_id,
        )
        # The write applies to exactly what was read: the result is known without a read.
        after = Product(
            **{
                **before.attribute_values,
                **fields,
                **catalog.keys(sku, fields.get("name", before.name)),
                "stock": stock,
                "headroom": stock - threshold,
                "updated_at": now,
            }
        )
        uow.after_commit(lambda: after_write(before, after))
        return after, _read_again

    def answer() -> Product:
        return catalog.get_product(sku)

    return idempotency.change_once(wanted, read_for, write, answer)


def _read_again(failed: Failures) -> None:
    """The product changed since it was read (or was deleted): read it again."""


def _target(product: Product, adjustment: Adjustment) -> int:
    """The stock this adjustment sets, or 409 when the product is not as the client saw it."""
    stock = int(product.stock)
    expected = adjustment.expected_stock
    if expected is not None and expected != stock:
        raise StockChanged(details=[{"sku": product.sku, "expected": expected, "actual": stock}])
    if adjustment.set_to is not None:
        return adjustment.set_to
    assert adjustment.change is not None
    target = stock + adjustment.change
    if target < 0:
        raise InsufficientStock(
            details=[{"sku": product.sku, "requested": -adjustment.change, "available": stock}]
        )
    if target > MAX_STOCK:
        raise ValidationFailed(
            details=[{"field": "change", "message": f"stock would exceed {MAX_STOCK}"}]
        )
    return target


def after_write(before: Product, after: Product) -> None:
    """Open or close the low-stock episode a write whose result is known made or ended."""
    was_low = episodes.is_low(before.stock, before.low_stock_threshold)
    if was_low or episodes.is_low(after.stock, after.low_stock_threshold):
        episodes.sync(after)
