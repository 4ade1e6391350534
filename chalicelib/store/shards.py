"""Write sharding: one rule for spreading a shop-wide list over several index partitions.

A partition of an index takes at most 1,000 write units a second, so no list whose key is one
constant for the whole shop may take every write (every order, every purchase): its entries
are spread over `shards` keys by a hash of their id and merged newest first at read time.
"""

from __future__ import annotations

import zlib
from typing import Any

from chalicelib.settings import get_settings
from chalicelib.store.models import EVERY

# Shard 0 of a list keeps the bare EVERY, so a list written before sharding (LIST_SHARDS=1) is
# shard 0 of the sharded one.


def shard_of(key: str, shards: int) -> int:
    """The shard (0 <= n < shards) of `key`: stable across processes, unlike hash()."""
    return zlib.crc32(key.encode()) % shards


def alert_shard(sku: str) -> int:
    """The `low_stock` partition of a product."""
    return shard_of(sku, get_settings().low_stock_shards)


def list_key(record_id: str) -> str:
    """The list key of a new order or purchase: one of `list_shards` partitions."""
    shard = shard_of(record_id, get_settings().list_shards)
    return EVERY if shard == 0 else f"{EVERY}#{shard}"


def every(index: Any) -> list[tuple[Any, str]]:
    """The (index, key) Queries that together hold the whole list (merged at read time)."""
    shards = get_settings().list_shards
    return [(index, EVERY if shard == 0 else f"{EVERY}#{shard}") for shard in range(shards)]
