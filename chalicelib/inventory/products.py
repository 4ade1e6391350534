"""The product catalog's writes: create, edit, delete. Reads and pages: `catalog`; stock set by
hand: `adjustments`; sales and purchases have their own modules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib import clock
from chalicelib.alerts import episodes
from chalicelib.errors import Busy, SkuExists
from chalicelib.inventory import adjustments, catalog, idempotency, ledger, stock_shards
from chalicelib.inventory.adjustments import Adjustment
from chalicelib.inventory.catalog import EDITABLE, get_product, list_products
from chalicelib.store import db, parts, shards
from chalicelib.store.models import Movement, Product, StockPart
from chalicelib.store.pages import Page
from chalicelib.store.transact import UnitOfWork, condition_failed
from chalicelib.vocabulary import AdjustmentReason, MovementKind

__all__ = ["get_product", "list_products"]


def new_product(
    sku: str,
    name: str,
    description: str,
    price: Decimal,
    stock: int,
    low_stock_threshold: int,
) -> Product:
    """A new product item with every attribute derived from its fields: headroom, shard, a
    fresh incarnation, timestamps and the catalog keys (what a create writes, and a bulk load)."""
    now = clock.iso()
    return Product(
        sku=sku,
        name=name,
        description=description,
        price=price,
        stock=stock,
        held=0,
        low_stock_threshold=low_stock_threshold,
        headroom=stock - low_stock_threshold,
        alert_shard=shards.alert_shard(sku),
        incarnation=clock.new_id(),
        created_at=now,
        updated_at=now,
        **catalog.keys(sku, name),
    )


def create_product(
    actor: str | None,
    sku: str,
    name: str,
    description: str,
    price: Decimal,
    stock: int,
    low_stock_threshold: int,
) -> Product:
    product = new_product(sku, name, description, price, stock, low_stock_threshold)
    # Tried again once, after closing the episode a deleted namesake left open.
    for attempt in range(2):
        if _try_create(actor, product):
            return product
        if attempt == 0:
            episodes.close_episode(sku)
    raise Busy()  # the namesake's episode is still open


def _try_create(actor: str | None, product: Product) -> bool:
    """Write it with its initial movement; False if an old episode of a deleted namesake is
    still open."""
    stock, threshold = int(product.stock), int(product.low_stock_threshold)  # nothing held yet
    uow = UnitOfWork()
    mine = uow.put(product, condition=Product.sku.does_not_exist(), name=product.sku)
    ledger.add_movement(
        uow,
        product.sku,
        product.incarnation,
        MovementKind.INITIAL,
        stock,
        None,
        ledger.Cause(actor),
    )
    if episodes.is_low(stock, threshold):
        episodes.add_open_ops(uow, product, stock, threshold)
        uow.after_commit(episodes.count_opened)
    failed = uow.commit()
    if mine in failed:
        raise SkuExists()
    return not failed


def update_product(actor: str, sku: str, changes: dict[str, Any]) -> Product:
    """Set any of EDITABLE and, optionally, `stock` (an adjustment with reason `correction`),
    then `stock_shards` (a resize, which moves no stock)."""
    fields = {k: v for k, v in changes.items() if k in EDITABLE}
    stock, shards = changes.get("stock"), changes.get("stock_shards")
    if stock is not None:
        correction = Adjustment(AdjustmentReason.CORRECTION, set_to=stock)
        product = adjustments.adjust(actor, sku, correction, idempotency.NO_KEY, fields).item
    elif fields or shards is None:
        product = _update_fields(sku, fields)
    if shards is None:
        return product
    return stock_shards.set_stock_shards(sku, shards)


def _update_fields(sku: str, fields: dict[str, Any]) -> Product:
    return db.with_retries(lambda: _try_update_fields(sku, fields), attempts=6)


def _try_update_fields(sku: str, fields: dict[str, Any]) -> Product:
    """The fields written under the condition that the product is the one read; a threshold
    sent (PUT always sends one) is written only over the threshold read, and a new one moves
    headroom by the difference (stock and held may move meanwhile)."""
    before = get_product(sku)
    actions = catalog.field_actions(sku, fields, clock.iso())
    condition = Product.incarnation == before.incarnation
    threshold = fields.get("low_stock_threshold")
    if threshold is not None:
        # Else a threshold changed since the read would be overwritten, its headroom kept.
        condition &= Product.low_stock_threshold == before.low_stock_threshold
        if threshold != before.low_stock_threshold:
            actions.append(Product.headroom.add(int(before.low_stock_threshold) - threshold))
    product = Product(sku=sku)
    try:
        product.update(actions, condition=condition)
    except UpdateError as exc:
        if condition_failed(exc):
            raise db.Contention() from None  # deleted (404 on the next read) or changed
        raise
    if parts.is_sharded(product):
        product = get_product(sku)  # the item holds part 0 only: the totals
    episodes.after_write(before, product)
    return product


def delete_product(sku: str) -> None:
    db.with_retries(lambda: _delete(sku), attempts=6)
    episodes.close_episode(sku)


def _delete(sku: str) -> None:
    """The product item and its stock parts, in one transaction (a resize meanwhile: again)."""
    product = get_product(sku)
    uow = UnitOfWork()
    uow.delete(
        Product(sku=sku),
        condition=(Product.incarnation == product.incarnation) & parts.same_layout(product),
    )
    for part in parts.whole(product)[1:]:
        uow.delete(StockPart(part=parts.part_key(sku, part.index)))
    if uow.commit():
        raise db.Contention()


def movements(sku: str, limit: int, after: str | None) -> Page[Movement]:
    return ledger.movements(get_product(sku), limit, after)
