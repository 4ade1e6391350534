"""A product's stock in parts (`stock_shards` > 1), as read and as checked.

Part 0 is the product item itself; parts 1..n-1 are `StockPart` items, each its own partition
key, so that one sku takes n times the transactions a second one item takes. A product read
through `transact.read_batch` carries its parts (`parts_of`) and reads as their totals: its
`stock`, `held` and `headroom` are the sums, so every rule written against a product (available,
low stock, what a line may take) holds for the whole product unchanged. Writes name the part they
touch (`inventory.stock`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.store.db import Contention
from chalicelib.store.models import EVERY, Product, StockPart

if TYPE_CHECKING:  # transact reads parts: no import cycle at run time
    from chalicelib.store.transact import UnitOfWork


@dataclass(frozen=True)
class Part:
    """One part as read: part 0's figures are the product item's own."""

    index: int
    stock: int
    held: int
    since: str  # part 0: the product's incarnation

    @property
    def available(self) -> int:
        return self.stock - self.held


def shards_of(product: Product) -> int:
    return int(product.stock_shards or 1)


def is_sharded(product: Product) -> bool:
    return shards_of(product) > 1


def part_key(sku: str, index: int) -> str:
    return f"{sku}#{index}"


def same_layout(product: Product) -> Any:
    """The condition that the product item has the stock_shards read (a write planned on one
    layout never lands on another: a resize in between makes it read again)."""
    if product.stock_shards is None:
        return Product.stock_shards.does_not_exist()
    return Product.stock_shards == product.stock_shards


def unsharded() -> Any:
    """The condition that the product item holds the whole stock (no parts)."""
    return Product.stock_shards.does_not_exist() | (Product.stock_shards == 1)


def whole(product: Product) -> list[Part]:
    """Its parts, all of them, for a write that plans on them: a part missing from the read (a
    resize committed between the reads of one BatchGetItem) means read again."""
    found = parts_of(product)
    if len(found) != shards_of(product):
        raise Contention()
    return found


def parts_of(product: Product) -> list[Part]:
    """The parts of a product read by `read_batch` (one, part 0, if it is not sharded)."""
    found = getattr(product, "_parts", None)
    if found is None:  # read some other way: only an unsharded product may be
        assert not is_sharded(product), f"{product.sku} was read without its parts"
        return [_own(product)]
    return list(found)


def _own(product: Product) -> Part:
    return Part(0, int(product.stock), int(product.held or 0), product.incarnation)


# sku -> stock_shards last read in this process: which parts to read with the product, so that
# a product and its parts are one BatchGetItem (a second only when the guess was wrong).
_layout: dict[str, int] = {}
_lock = threading.Lock()


def guessed_keys(skus: Iterable[str]) -> list[str]:
    with _lock:
        return [part_key(sku, k) for sku in skus for k in range(1, _layout.get(sku, 1))]


def missing_keys(products: Iterable[Product], read: set[str]) -> list[str]:
    """The part keys of these products that were not read with them."""
    return [
        part_key(product.sku, k)
        for product in products
        for k in range(1, shards_of(product))
        if part_key(product.sku, k) not in read
    ]


def fold(product: Product, found: dict[str, StockPart]) -> None:
    """Attach the parts read to `product` and make it read as their totals. A part missing, or
    of another incarnation (a deleted namesake's), is left out: a resize that committed between
    the reads of a BatchGetItem (the next read sees it whole)."""
    n = shards_of(product)
    with _lock:
        if n > 1:
            _layout[product.sku] = n
        else:
            _layout.pop(product.sku, None)
    parts = [_own(product)]
    for k in range(1, n):
        item = found.get(part_key(product.sku, k))
        if item is not None and item.incarnation == product.incarnation:
            parts.append(Part(k, int(item.stock), int(item.held), item.since))
    product._parts = parts  # type: ignore[attr-defined]
    if n > 1:
        product.stock = sum(part.stock for part in parts)
        product.held = sum(part.held for part in parts)
        available = sum(part.available for part in parts)
        product.headroom = available - int(product.low_stock_threshold)


def even(total: int, shares: int) -> list[int]:
    """`total` units over `shares` parts, the first ones taking the remainder."""
    return [total // shares + (1 if k < total % shares else 0) for k in range(shares)]


def check_available(uow: UnitOfWork, product: Product, at_most: bool) -> None:
    """Conditions that the product (as read, in parts) is still low (`at_most`) or still not
    low when the unit of work commits. Each part may move by its share of the margin the read
    leaves (below the threshold to open, at or above it to close), so sales and returns landing
    meanwhile on other parts do not fail it, and the total stays on the same side."""
    found = whole(product)
    threshold = int(product.low_stock_threshold)
    available = sum(part.available for part in found)
    margin = (threshold - 1 - available) if at_most else (available - threshold)
    shares = [
        margin // len(found) + (1 if k < margin % len(found) else 0) for k in range(len(found))
    ]
    for part, share in zip(found, shares, strict=True):
        bound = part.available + share if at_most else part.available - share
        if part.index == 0:
            head = (Product.incarnation == product.incarnation) & same_layout(product)
            head &= Product.low_stock_threshold == threshold
            # headroom is part 0's available - threshold
            head &= (
                Product.headroom <= bound - threshold
                if at_most
                else Product.headroom >= bound - threshold
            )
            uow.check(Product, product.sku, condition=head, name=f"{product.sku} total")
            continue
        condition = StockPart.since == part.since
        condition &= StockPart.available <= bound if at_most else StockPart.available >= bound
        uow.check(
            StockPart,
            part_key(product.sku, part.index),
            condition=condition,
            name=f"{product.sku} part {part.index}",
        )


def sharded_skus() -> set[str]:
    """Every sku whose stock is in parts: one Query of the sparse `by_sharding` index (its cost
    grows with the sharded products, a few flash-sale skus, not with the catalog)."""
    return {item.sku for item in Product.by_sharding.query(EVERY)}


def part_item(sku: str, incarnation: str, index: int, stock: int, since: str) -> StockPart:
    return StockPart(
        part=part_key(sku, index),
        sku=sku,
        incarnation=incarnation,
        since=since,
        stock=stock,
        held=0,
        available=stock,
    )


def update_part(
    uow: UnitOfWork,
    product: Product,
    part: Part,
    stock: int = 0,
    held: int = 0,
    needs_available: int = 0,
    needs_held: int = 0,
    also: list[Any] | None = None,
    condition: Any = None,
) -> Any:
    """Move one part's stock and held (`available` moves with them), under the conditions that
    it is the part read (same product, same since) and has what the change needs; `also`: more
    actions on the product item (part 0 only), `condition`: one more condition."""
    extra = condition
    if part.index == 0:
        actions = [*(also or [])]
        if stock:
            actions.append(Product.stock.add(stock))
        if held:
            actions.append(Product.held.add(held))
        if stock - held:
            actions.append(Product.headroom.add(stock - held))
        condition = (Product.incarnation == product.incarnation) & same_layout(product)
        if needs_available:
            threshold = int(product.low_stock_threshold)
            # headroom is part 0's available - threshold: with the threshold as read, this is
            # "part 0 has needs_available units available".
            condition &= (Product.headroom >= needs_available - threshold) & (
                Product.low_stock_threshold == threshold
            )
        if needs_held:
            condition &= Product.held >= needs_held
        if extra is not None:
            condition &= extra
        return uow.update(
            Product(sku=product.sku), actions, condition=condition, old=True, name=product.sku
        )
    part_actions: list[Any] = []
    if stock:
        part_actions.append(StockPart.stock.add(stock))
    if held:
        part_actions.append(StockPart.held.add(held))
    if stock - held:
        part_actions.append(StockPart.available.add(stock - held))
    condition = (StockPart.since == part.since) & (StockPart.incarnation == product.incarnation)
    if needs_available:
        condition &= StockPart.available >= needs_available
    if needs_held:
        condition &= StockPart.held >= needs_held
    if extra is not None:
        condition &= extra
    if not part_actions:  # nothing moves in it: only its conditions
        key = part_key(product.sku, part.index)
        return uow.check(StockPart, key, condition=condition, name=f"{product.sku} part")
    return uow.update(
        StockPart(part=part_key(product.sku, part.index)),
        part_actions,
        condition=condition,
        old=True,
        name=f"{product.sku} part {part.index}",
    )
