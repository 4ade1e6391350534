"""The scheduled low-stock check: open missing episodes, resolve finished ones, email the new.

Its cost grows with the number of low products, not with the catalog: it Queries the
`Product.low_stock` index (key condition `headroom < 0`, per shard) and Scans `AlertState`,
a table that only ever holds open episodes, and reads the few products in stock parts
(named by the sparse `by_sharding` index) as their totals. Every write it makes is
conditional, so a check racing a sale, an adjustment or another check never opens a second
episode for a product.
"""

from __future__ import annotations

import logging

from chalicelib.alerts import digest, episodes
from chalicelib.settings import get_settings
from chalicelib.store import parts
from chalicelib.store.models import AlertState, Product
from chalicelib.store.transact import read_batch

log = logging.getLogger("automart.alerts")


def low_products(sharded: dict[str, Product]) -> dict[str, Product]:
    """Every product the index shows as low (eventually consistent: writes re-check), and every
    one of the `sharded` whose total is low."""
    low: dict[str, Product] = {}
    for shard in range(get_settings().low_stock_shards):
        for product in Product.low_stock.query(shard, Product.headroom < 0):
            low[product.sku] = product
    for sku, product in sharded.items():
        if episodes.is_low(product.available, product.low_stock_threshold):
            low[sku] = product
    return low


def sharded_products() -> dict[str, Product]:
    """The products whose stock is in parts, read as their totals (they are in no index: no one
    item holds their total)."""
    skus = parts.sharded_skus()
    found = read_batch(skus).products if skus else {}
    return {sku: product for sku, product in found.items() if parts.is_sharded(product)}


def open_episode_skus() -> set[str]:
    return {state.sku for state in AlertState.scan(consistent_read=True)}


def run_check() -> dict[str, int]:
    """One sweep; returns {"low_stock", "created", "emailed"} counts."""
    sharded = sharded_products()
    low = low_products(sharded)
    open_skus = open_episode_skus()
    # open_episode re-checks the product (strongly consistent) and the AlertState inside one
    # transaction: a stale index entry or a racing writer makes it a no-op, never a duplicate.
    created = sum(
        1 for sku, product in low.items() if sku not in open_skus and episodes.open_episode(product)
    )
    # Episodes normally end with the write that ended them; this catches any that did not
    # (a write that failed half-way, a handled notification racing its resolution).
    resolved = sum(
        1 for sku in open_skus - low.keys() if episodes.close_episode(sku, sharded.get(sku))
    )
    emailed = digest.send_pending(low)
    log.info(
        "low-stock check: %d low, %d created, %d resolved, %d emailed",
        len(low),
        created,
        resolved,
        emailed,
    )
    return {"low_stock": len(low), "created": created, "emailed": emailed}
