"""Pages of query results: newest first over one or several index partitions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    last_key: str | None  # the key to continue after, or None on the last page


def newest_first(
    sources: list[tuple[Any, str]],
    range_attr: Any,
    limit: int,
    after: str | None,
    key: Any = None,
    where: Any = None,
) -> Page[Any]:
    """Merge Query results from (index or model, hash value) sources, newest (largest ULID) first.

    Each source is queried for `range < after`, limit + 1 items: if together they hold more
    than `limit` distinct items, there is a next page that starts after the last one shown.
    `where`: a filter condition (PynamoDB reads on until limit + 1 items pass it).
    """
    key = key or (lambda item: getattr(item, range_attr.attr_name))
    condition = (range_attr < after) if after else None
    seen: dict[str, Any] = {}
    for source, hash_value in sources:
        for item in source.query(
            hash_value,
            range_key_condition=condition,
            filter_condition=where,
            scan_index_forward=False,
            limit=limit + 1,
        ):
            seen.setdefault(key(item), item)
    ordered = sorted(seen.values(), key=key, reverse=True)
    page = ordered[:limit]
    return Page(page, key(page[-1]) if len(ordered) > limit else None)
