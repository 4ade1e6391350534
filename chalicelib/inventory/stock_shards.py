"""Changing a product's `stock_shards`: its stock split into that many parts, or merged back.

One transaction, no movement (no unit enters or leaves the product): parts beyond the new count
are removed and their units, held ones included, move to part 0; new parts are made; then the
available units are spread evenly over the parts. The same count again is a rebalance.

Conditions keep it exact while sales run: the product item is the one read, with the count
read (two resizes at once: one commits); a part that gives units has at least that many
available; a removed part is exactly as read. A part that changed otherwise is read again.
"""

from __future__ import annotations

from typing import Any

from chalicelib import clock
from chalicelib.errors import NotFound
from chalicelib.inventory import catalog
from chalicelib.store import db
from chalicelib.store.models import EVERY, Product, StockPart
from chalicelib.store.parts import even, part_item, part_key, shards_of, update_part, whole
from chalicelib.store.shards import alert_shard
from chalicelib.store.transact import UnitOfWork, read_batch


def set_stock_shards(sku: str, shards: int) -> Product:
    db.with_retries(lambda: _resize(sku, shards), attempts=8)
    return catalog.get_product(sku)


def _resize(sku: str, shards: int) -> None:
    product = read_batch([sku]).products.get(sku)
    if product is None:
        raise NotFound("No product has this sku")
    now = shards_of(product)
    found = whole(product)
    kept = [part for part in found if part.index < shards]
    removed = [part for part in found if part.index >= shards]
    targets = even(sum(part.available for part in found), shards)
    uow = UnitOfWork()
    for part in removed:
        uow.delete(
            StockPart(part=part_key(sku, part.index)),
            condition=(StockPart.stock == part.stock)
            & (StockPart.held == part.held)
            & (StockPart.since == part.since),
        )
    moved_held = sum(part.held for part in removed)
    for part in kept:
        change = targets[part.index] - part.available
        if part.index == 0:
            # Part 0 also takes the removed parts' held units (their holds find them here).
            update_part(
                uow,
                product,
                part,
                stock=change + moved_held,
                held=moved_held,
                needs_available=-change if change < 0 else 0,
                also=_layout_actions(product, shards),
            )
        elif change:
            update_part(uow, product, part, stock=change, needs_available=max(0, -change))
    since = clock.new_id()
    for index in range(now, shards):
        uow.put(part_item(sku, product.incarnation, index, targets[index], since))
    if uow.commit():
        raise db.Contention()  # a part changed, or the product did: read again


def _layout_actions(product: Product, shards: int) -> list[Any]:
    """The product item's side: the count, its ledgers (never fewer: old movements stay
    listed), and in which index it is (`low_stock` only when one item holds its total)."""
    actions = [
        Product.stock_shards.set(shards),
        Product.ledger_parts.set(max(int(product.ledger_parts or 1), shards)),
        Product.updated_at.set(clock.iso()),
    ]
    if shards > 1:
        return actions + [Product.alert_shard.remove(), Product.sharded.set(EVERY)]
    return actions + [Product.alert_shard.set(alert_shard(product.sku)), Product.sharded.remove()]
