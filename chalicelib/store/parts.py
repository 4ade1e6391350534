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


def check_available(uow: UnitOfWork, product: Product, at_most: bool) -> None:
    """Conditions that the product's total available is still at most (`at_most`) or at least
    what was read: each part's no higher (no lower), and the same parts. Sales running meanwhile
    only lower it, so "still low" survives them; units coming back only raise it."""
    own, *others = parts_of(product)
    threshold = int(product.low_stock_threshold)
    head = (Product.incarnation == product.incarnation) & (Product.low_stock_threshold == threshold)
    head &= (
        Product.stock_shards == product.stock_shards
        if is_sharded(product)
        else Product.stock_shards.does_not_exist() | (Product.stock_shards == 1)
    )
    mine = own.available - threshold
    head &= (Product.headroom <= mine) if at_most else (Product.headroom >= mine)
    uow.check(Product, product.sku, condition=head, name=f"{product.sku} total")
    for part in others:
        bound = (
            StockPart.available <= part.available
            if at_most
            else StockPart.available >= part.available
        )
        uow.check(
            StockPart,
            part_key(product.sku, part.index),
            condition=bound & (StockPart.since == part.since),
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
        condition = Product.incarnation == product.incarnation
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
    return uow.update(
        StockPart(part=part_key(product.sku, part.index)),
        part_actions,
        condition=condition,
        old=True,
        name=f"{product.sku} part {part.index}",
    )
