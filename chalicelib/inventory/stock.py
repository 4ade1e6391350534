"""Stock changes inside a unit of work: take and give units with their ledger rows and low-stock
episodes, and the sorting of their failed conditions.

Stock is never read, modified and written back: every change is an `ADD` under a condition
(`available >= q` for a take or a hold, `held >= q` for a release or the sale of a hold, the
same incarnation for all), and the product's `headroom` (available - threshold, the low-stock
index) moves in the same expression. `available` is `stock - held`.

A product with `stock_shards` > 1 is changed part by part (`store.parts`): a take or a hold
from a part that has enough (several for a line larger than any part), units coming back to
the emptiest part, a hold line's units released or sold from the parts it recorded. A line's
movement goes to the ledger of the (first) part it changed, so no one partition takes every
sale of the sku.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chalicelib.alerts import episodes
from chalicelib.errors import InsufficientStock
from chalicelib.inventory import ledger
from chalicelib.store import db
from chalicelib.store.models import HeldPart, Product
from chalicelib.store.parts import Part, is_sharded, shards_of, update_part, whole
from chalicelib.store.transact import Failures, Slot, TooLarge, UnitOfWork
from chalicelib.vocabulary import MovementKind

log = logging.getLogger("automart")

T = TypeVar("T")


class StaleAlert(Exception):
    """The read said a product becomes low, the write found otherwise: write without alerts."""


def same_product(products: Mapping[str, Product], sku: str, incarnation: str) -> Product | None:
    """The product of `sku` as read, if it is still the one a line (of an order, a purchase, a
    hold) was made with; None if it was deleted or re-created since: its stock left with it."""
    product = products.get(sku)
    return product if product is not None and product.incarnation == incarnation else None


def plan_take(product: Product, quantity: int) -> list[tuple[Part, int]]:
    """The parts that serve `quantity` available units (as read): one that has enough, chosen at
    random so that concurrent sales spread over the parts; else the fullest first (a line larger
    than any part spans several). Always the whole quantity: a line larger than the total as read
    fails its condition at commit."""
    parts = whole(product)
    enough = [part for part in parts if part.available >= quantity]
    if enough:
        return [(random.choice(enough), quantity)]
    plan, left = [], quantity
    for part in sorted(parts, key=lambda part: -part.available):
        if left <= 0:
            break
        if part.available > 0:
            plan.append((part, min(part.available, left)))
            left -= plan[-1][1]
    if left > 0:  # fewer units than asked, as read: the whole line from one part, whose
        return [(max(parts, key=lambda part: part.available), quantity)]  # condition refuses it
    return plan


def plan_give(product: Product) -> Part:
    """The part that units coming back go to: the emptiest, so the parts stay even."""
    return min(whole(product), key=lambda part: part.available)


def held_in(
    product: Product, line_parts: list[HeldPart] | None, quantity: int
) -> list[tuple[Part, int]]:
    """Where a hold line's units are held now: each recorded part, or part 0 for a part removed
    since (a resize moves a removed part's held units to part 0); all in part 0 if unrecorded."""
    found = whole(product)
    if not line_parts:
        return [(found[0], quantity)]
    current = {(part.index, part.since): part for part in found}
    own = found[0]
    where: dict[Part, int] = {}  # one change a part: several removed parts all went to part 0
    for held in line_parts:
        part = current.get((int(held.index), held.since), own)
        where[part] = where.get(part, 0) + int(held.quantity)
    return list(where.items())


def recorded(plan: list[tuple[Part, int]], product: Product) -> list[HeldPart] | None:
    """A hold line's record of the parts it keeps units in (None: part 0 of an unsharded one)."""
    if not is_sharded(product):
        return None
    return [HeldPart(index=part.index, since=part.since, quantity=q) for part, q in plan]


@dataclass(frozen=True)
class StockLine:
    """One part's change in this unit of work, as its failure sorting needs it."""

    slot: Slot
    read: Product | None
    quantity: int  # units of `available` it needs (> 0), or 0 (a give, a release, a sale held)
    alerting: bool = False  # also conditional on the product becoming low
    part: bool = False  # one part of a sharded product: a failure says nothing of the total


@dataclass
class StockChanges:
    """The stock side of one unit of work.

    With `alert`, a take or a hold that makes an unsharded product low opens the episode in the
    same transaction; a sharded one's is opened right after the commit (its total is in no one
    item a condition could read). A give or a release to a product that was low resolves its
    episode once the unit of work has committed.
    """

    uow: UnitOfWork
    reference: str | None
    cause: ledger.Cause
    alert: bool = True
    _lines: list[StockLine] = field(default_factory=list)
    _alert_slots: list[Slot] = field(default_factory=list)
    _recovering: list[Product] = field(default_factory=list)  # products given to while low
    _lowered: list[Product] = field(default_factory=list)  # sharded products made low
    _spans: list[tuple[Product, int]] = field(default_factory=list)  # lines over several parts

    def take(self, product: Product, quantity: int, kind: MovementKind) -> None:
        """Take `quantity` available units out of `product` (as read), with their movements."""
        plan = plan_take(product, quantity)
        if len(plan) > 1:
            self._spans.append((product, quantity))
        self._move(product, plan[0][0], -quantity, kind)  # one row a line, in its first ledger
        for part, units in plan:
            self._lower_available(product, part, units, stock=-units)
        self._after_lowering(product, quantity)

    def hold(self, product: Product, quantity: int, line_parts: list[HeldPart] | None) -> None:
        """Keep `quantity` available units of `product` for a hold, in the parts the hold line
        records: stock does not move, so no movement."""
        plan = held_in(product, line_parts, quantity)
        if len(plan) > 1:
            self._spans.append((product, quantity))
        for part, units in plan:
            self._lower_available(product, part, units, held=units)
        self._after_lowering(product, quantity)

    def give(self, product: Product, quantity: int, kind: MovementKind) -> None:
        """Put `quantity` back into `product` (as read); fails if it was re-created since."""
        part = plan_give(product)
        self._move(product, part, quantity, kind)
        self._raise_available(product, [(part, quantity)], stock=True)

    def release(self, product: Product, quantity: int, line_parts: list[HeldPart] | None) -> None:
        """Let a hold line's held units go: available again, no movement."""
        self._raise_available(product, held_in(product, line_parts, quantity), stock=False)

    def sell_held(self, product: Product, quantity: int, line_parts: list[HeldPart] | None) -> None:
        """Sell the units a hold line kept: stock and held fall together (a `sale` movement);
        available, and so low stock, does not move."""
        plan = held_in(product, line_parts, quantity)
        self._move(product, plan[0][0], -quantity, MovementKind.SALE)
        for part, units in plan:
            slot = update_part(self.uow, product, part, stock=-units, held=-units, needs_held=units)
            self._lines.append(StockLine(slot, product, 0, part=is_sharded(product)))

    def _lower_available(
        self, product: Product, part: Part, quantity: int, stock: int = 0, held: int = 0
    ) -> None:
        if is_sharded(product):
            slot = update_part(
                self.uow, product, part, stock=stock, held=held, needs_available=quantity
            )
            self._lines.append(StockLine(slot, product, quantity, part=True))
            return
        available, threshold = product.available, int(product.low_stock_threshold)
        alerting = self.alert and becomes_low(product, quantity)
        if alerting:
            self._alert_slots += episodes.add_open_ops(
                self.uow, product, available - quantity, threshold
            )
            self.uow.after_commit(episodes.count_opened)
        slot = update_part(
            self.uow,
            product,
            part,
            stock=stock,
            held=held,
            needs_available=quantity,
            condition=Product.headroom < quantity if alerting else None,  # really becomes low
        )
        self._lines.append(StockLine(slot, product, quantity, alerting))

    def _after_lowering(self, product: Product, quantity: int) -> None:
        """A sharded product this write makes low (as read): its episode, once committed."""
        if self.alert and is_sharded(product) and becomes_low(product, quantity):
            if not self._lowered:
                self.uow.after_commit(lambda: open_episodes(self._lowered))
            self._lowered.append(product)

    def _raise_available(self, product: Product, plan: list[tuple[Part, int]], stock: bool) -> None:
        for part, units in plan:
            slot = update_part(
                self.uow,
                product,
                part,
                stock=units if stock else 0,
                held=0 if stock else -units,
                needs_held=0 if stock else units,
            )
            self._lines.append(StockLine(slot, product, 0, part=is_sharded(product)))
        if episodes.is_low(product.available, int(product.low_stock_threshold)):
            if not self._recovering:  # one pass over them all: it stops when DynamoDB is down
                self.uow.after_commit(lambda: settle_episodes(self._recovering))
            self._recovering.append(product)

    def expect_gone(self, sku: str, incarnation: str) -> None:
        """A change that skips stock because its product was deleted or re-created: still so
        when the unit of work commits, or it is read again."""
        slot = self.uow.check(
            Product,
            sku,
            condition=Product.sku.does_not_exist() | (Product.incarnation != incarnation),
            name=f"{sku} gone",
        )
        self._lines.append(StockLine(slot, None, 0))

    def _move(self, product: Product, part: Part, change: int, kind: MovementKind) -> None:
        ledger.add_movement(
            self.uow,
            product.sku,
            product.incarnation,
            kind,
            change,
            self.reference,
            self.cause,
            part=part.index,
        )

    def gather(self) -> bool:
        """After TooLarge: move each line that spanned parts into one part (a rebalance, no
        movement), so that the next attempt takes one item a line; False if none spanned."""
        for product, quantity in self._spans:
            gather(product, quantity)
        return bool(self._spans)

    def raise_for(self, failed: Failures) -> None:
        """Raise for this side's failed conditions: 409 short lines, StaleAlert (write again
        without alerts) or Contention (read again)."""
        sort_failures(self._lines, self._alert_slots, failed)


def gather(product: Product, quantity: int) -> None:
    """Move available units from the fullest parts into the fullest one until it has
    `quantity` (or all there is): one transaction, no movement. Best effort: a part that
    changed meanwhile fails it, and the caller reads again either way."""
    fullest, *others = sorted(whole(product), key=lambda part: -part.available)
    need, moved = quantity - fullest.available, 0
    uow = UnitOfWork()
    for part in others:
        units = min(part.available, need - moved)
        if units <= 0:
            break
        update_part(uow, product, part, stock=-units, needs_available=units)
        moved += units
    if moved:
        update_part(uow, product, fullest, stock=moved)
        uow.commit()


def becomes_low(product: Product, quantity: int) -> bool:
    """Taking `quantity` available units makes `product` (as read) low."""
    available, threshold = product.available, int(product.low_stock_threshold)
    return not episodes.is_low(available, threshold) and episodes.is_low(
        available - quantity, threshold
    )


def sort_failures(
    lines: Iterable[StockLine],
    alert_slots: Iterable[Slot],
    failed: Failures,
) -> None:
    """The pure rule behind `StockChanges.raise_for` (tested without a database)."""
    short, stale, changed = [], False, False
    for line in lines:
        if line.slot not in failed:
            continue
        if line.part:
            changed = True  # one part short or changed: the total may still serve it
            continue
        now = failed.old(line.slot, Product)
        if line.read is None or now is None:
            raise db.Contention()  # a gone product is back, or a product is gone: read again
        if now.incarnation != line.read.incarnation:
            raise db.Contention()  # re-created since the read
        if shards_of(now) != shards_of(line.read):
            raise db.Contention()  # resized since the read: its figures are one part's
        if line.quantity > 0 and now.available < line.quantity:
            short.append(
                {"sku": line.read.sku, "requested": line.quantity, "available": now.available}
            )
        elif line.alerting and now.low_stock_threshold == line.read.low_stock_threshold:
            stale = True  # only the "becomes low" part failed
        else:
            changed = True  # its threshold moved since the read, or (a release) its held
    if short:
        raise InsufficientStock(details=short)
    if changed:
        raise db.Contention()
    if stale or any(slot in failed for slot in alert_slots):
        raise StaleAlert()


def settle_episodes(products: Iterable[Product]) -> None:
    """Best effort: resolve the episodes of products seen low that may have recovered."""
    _each(products, lambda product: episodes.close_episode(product.sku, product), "close")


def open_episodes(products: Iterable[Product]) -> None:
    """Best effort: open the episodes of sharded products a write made low (read again)."""
    _each(products, lambda product: episodes.sync(product), "open")


def _each(products: Iterable[Product], step: Callable[[Product], Any], what: str) -> None:
    for product in products:
        try:
            step(product)
        except Exception as exc:  # the scheduled check does it too
            log.warning(
                "could not %s the low-stock episode of %s", what, product.sku, exc_info=True
            )
            if db.is_unavailable(exc):
                break  # the next would wait as long: the write is done, answer now


def with_alerts(write: Callable[[bool], T]) -> T:
    """Write with the episode writes of the takes that make a product low; if the read was stale
    about that, or they do not fit in one transaction (25 lines all becoming low), write again
    without them: the scheduled check opens those episodes."""
    try:
        return write(True)
    except (StaleAlert, TooLarge):
        return write(False)
