"""The scheduled low-stock check: open missing episodes, resolve finished ones, email the new.

Its cost grows with the number of low products, not with the catalog: it Queries the
`Product.low_stock` index (key condition `headroom < 0`, per shard) and Scans `AlertState`,
a table that only ever holds open episodes. Every write it makes is conditional, so a check
racing a sale, an adjustment or another check never opens a second episode for a product.
"""

from __future__ import annotations

import logging

from chalicelib.alerts import digest, episodes
from chalicelib.settings import get_settings
from chalicelib.store.models import AlertState, Product

log = logging.getLogger("automart.alerts")


def low_products() -> dict[str, Product]:
    """Every product the index shows as low (eventually consistent: writes re-check)."""
    low: dict[str, Product] = {}
    for shard in range(get_settings().low_stock_shards):
        for product in Product.low_stock.query(shard, Product.headroom < 0):
            low[product.sku] = product
    return low


def open_episode_skus() -> set[str]:
    return {state.sku for state in AlertState.scan(consistent_read=True)}


def run_check() -> dict[str, int]:
    """One sweep; returns {"low_stock", "created", "emailed"} counts."""
    low = low_products()
    open_skus = open_episode_skus()
    # open_episode re-checks the product (strongly consistent) and the AlertState inside one
    # transaction: a stale index entry or a racing writer makes it a no-op, never a duplicate.
    created = sum(
        1 for sku, product in low.items() if sku not in open_skus and episodes.open_episode(product)
    )
    # Episodes normally end with the write that ended them; this catches any that did not
    # (a write that failed half-way, a handled notification racing its resolution).
    resolved = sum(1 for sku in open_skus - low.keys() if episodes.close_episode(sku))
    emailed = digest.send_pending(low)
    log.info(
        "low-stock check: %d low, %d created, %d resolved, %d emailed",
        len(low),
        created,
        resolved,
        emailed,
    )
    return {"low_stock": len(low), "created": created, "emailed": emailed}
