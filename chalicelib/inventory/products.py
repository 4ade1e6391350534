"""The product catalog. Stock changes here are adjustments; sales and purchases have their own
modules."""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError

from chalicelib import clock
from chalicelib.alerts import episodes
from chalicelib.errors import Busy, NotFound, SkuExists
from chalicelib.inventory import ledger
from chalicelib.settings import get_settings
from chalicelib.store import db
from chalicelib.store.models import Movement, Product
from chalicelib.store.pages import Page, scan_page
from chalicelib.store.transact import UnitOfWork, condition_failed
from chalicelib.vocabulary import MovementKind

EDITABLE = ("name", "description", "price", "low_stock_threshold")


def alert_shard(sku: str) -> int:
    return zlib.crc32(sku.encode()) % get_settings().low_stock_shards


def get_product(sku: str) -> Product:
    try:
        return Product.get(sku, consistent_read=True)
    except DoesNotExist:
        raise NotFound("No product has this sku") from None


def list_products(limit: int, after: str | None) -> Page[Product]:
    return scan_page(Product, "sku", limit, after)


def create_product(
    sku: str, name: str, description: str, price: Decimal, stock: int, low_stock_threshold: int
) -> Product:
    # Tried again once, after closing the episode a deleted namesake left open.
    for attempt in range(2):
        product = _try_create(sku, name, description, price, stock, low_stock_threshold)
        if product is not None:
            return product
        if attempt == 0:
            episodes.close_episode(sku)
    raise Busy()  # the namesake's episode is still open


def _try_create(
    sku: str, name: str, description: str, price: Decimal, stock: int, low_stock_threshold: int
) -> Product | None:
    """The product, or None if an old episode of a deleted namesake is still open."""
    now = clock.iso()
    incarnation = clock.new_id()
    product = Product(
        sku=sku,
        name=name,
        description=description,
        price=price,
        stock=stock,
        low_stock_threshold=low_stock_threshold,
        headroom=stock - low_stock_threshold,
        alert_shard=alert_shard(sku),
        incarnation=incarnation,
        created_at=now,
        updated_at=now,
    )
    uow = UnitOfWork()
    mine = uow.put(product, condition=Product.sku.does_not_exist(), name=sku)
    ledger.add_movement(uow, sku, incarnation, MovementKind.INITIAL, stock, None)
    if episodes.is_low(stock, low_stock_threshold):
        episodes.add_open_ops(uow, product, stock, low_stock_threshold)
        uow.after_commit(episodes.count_opened)
    failed = uow.commit()
    if mine in failed:
        raise SkuExists()
    return None if failed else product


def update_product(sku: str, changes: dict[str, Any]) -> Product:
    """Set any of EDITABLE and, optionally, `stock` (a recorded adjustment)."""
    fields = {k: v for k, v in changes.items() if k in EDITABLE}
    stock = changes.get("stock")
    if stock is None:
        return _update_fields(sku, fields)
    return db.with_retries(lambda: _adjust(sku, fields, stock), attempts=8)


def _field_actions(fields: dict[str, Any], now: str) -> list[Any]:
    actions = [getattr(Product, name).set(value) for name, value in fields.items()]
    return actions + [Product.updated_at.set(now)]


def _update_fields(sku: str, fields: dict[str, Any]) -> Product:
    before = get_product(sku)
    actions = _field_actions(fields, clock.iso())
    if "low_stock_threshold" in fields:
        actions.append(Product.headroom.set(Product.stock - fields["low_stock_threshold"]))
    product = Product(sku=sku)
    try:
        product.update(actions, condition=Product.sku.exists())
    except UpdateError as exc:
        if condition_failed(exc):
            raise NotFound("No product has this sku") from None
        raise
    _after_write(before, product)
    return product


def _adjust(sku: str, fields: dict[str, Any], stock: int) -> Product:
    before = get_product(sku)
    threshold = fields.get("low_stock_threshold", before.low_stock_threshold)
    change = stock - before.stock
    now = clock.iso()
    actions = _field_actions(fields, now) + [
        Product.stock.set(stock),
        Product.headroom.set(stock - threshold),
    ]
    uow = UnitOfWork()
    # Optimistic: the adjustment applies to the stock and threshold we read (headroom is
    # computed from both), or is tried again.
    uow.update(
        before,
        actions,
        condition=(Product.stock == before.stock)
        & (Product.low_stock_threshold == before.low_stock_threshold)
        & (Product.incarnation == before.incarnation),
    )
    if change:
        ledger.add_movement(
            uow, sku, before.incarnation, MovementKind.ADJUSTMENT, int(change), None
        )
    if uow.commit():
        raise db.Contention()
    # The write applied to exactly what we read: the result is known without reading it back.
    after = Product(
        **{
            **before.attribute_values,
            **fields,
            "stock": stock,
            "headroom": stock - threshold,
            "updated_at": now,
        }
    )
    _after_write(before, after)
    return after


def _after_write(before: Product, after: Product) -> None:
    was_low = episodes.is_low(before.stock, before.low_stock_threshold)
    if was_low or episodes.is_low(after.stock, after.low_stock_threshold):
        episodes.sync(after)


def delete_product(sku: str) -> None:
    try:
        Product(sku=sku).delete(condition=Product.sku.exists())
    except DeleteError as exc:
        if condition_failed(exc):
            raise NotFound("No product has this sku") from None
        raise
    episodes.close_episode(sku)


def movements(sku: str, limit: int, after: str | None) -> Page[Movement]:
    return ledger.movements(get_product(sku), limit, after)
