"""Stock changes inside a unit of work: take and give units with their ledger rows and low-stock
episodes, and the sorting of their failed conditions.

Stock is never read, modified and written back: every change is an `ADD` under a condition
(`available >= q` for a take or a hold, `held >= q` for a release or the sale of a hold, the
same incarnation for all), and the product's `headroom` (available - threshold, the low-stock
index) moves in the same expression. `available` is `stock - held`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chalicelib.alerts import episodes
from chalicelib.errors import InsufficientStock
from chalicelib.inventory import ledger
from chalicelib.store import db
from chalicelib.store.models import Product
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


def _stock_actions(change: int) -> list[Any]:
    return [Product.stock.add(change), Product.headroom.add(change)]


def _hold_actions(change: int) -> list[Any]:
    """Units held (> 0) or let go (< 0): `available` (headroom) moves the other way."""
    return [Product.held.add(change), Product.headroom.add(-change)]


def _has_available(product: Product, quantity: int) -> Any:
    """The condition that `product` (as read) still has `quantity` units available.

    A condition cannot subtract `held` from `stock`; headroom is available - threshold, so with
    the threshold as read, `headroom >= quantity - threshold` is `available >= quantity`."""
    threshold = int(product.low_stock_threshold)
    return (
        (Product.headroom >= quantity - threshold)
        & (Product.low_stock_threshold == threshold)
        & (Product.incarnation == product.incarnation)
    )


@dataclass(frozen=True)
class StockLine:
    """One product's change in this unit of work, as its failure sorting needs it."""

    slot: Slot
    read: Product | None
    quantity: int  # units of `available` it needs (> 0), or 0 (a give, a release, a sale held)
    alerting: bool = False  # also conditional on the product becoming low


@dataclass
class StockChanges:
    """The stock side of one unit of work.

    With `alert`, a take or a hold that makes its product low opens the episode in the same
    transaction. A give or a release to a product that was low resolves its episode once the
    unit of work has committed.
    """

    uow: UnitOfWork
    reference: str | None
    cause: ledger.Cause
    alert: bool = True
    _lines: list[StockLine] = field(default_factory=list)
    _alert_slots: list[Slot] = field(default_factory=list)
    _recovering: list[str] = field(default_factory=list)  # skus given to while low

    def take(self, product: Product, quantity: int, kind: MovementKind) -> None:
        """Take `quantity` available units out of `product` (as read), with its movement."""
        self._move(product, -quantity, kind)
        self._lower_available(product, quantity, _stock_actions(-quantity))

    def hold(self, product: Product, quantity: int) -> None:
        """Keep `quantity` available units of `product` for a hold: stock does not move, so no
        movement."""
        self._lower_available(product, quantity, _hold_actions(quantity))

    def give(self, product: Product, quantity: int, kind: MovementKind) -> None:
        """Put `quantity` back into `product` (as read); fails if it was re-created since."""
        self._move(product, quantity, kind)
        self._raise_available(product, _stock_actions(quantity))

    def release(self, product: Product, quantity: int) -> None:
        """Let `quantity` held units of `product` go: available again, no movement."""
        self._raise_available(product, _hold_actions(-quantity), Product.held >= quantity)

    def sell_held(self, product: Product, quantity: int) -> None:
        """Sell `quantity` units a hold kept: stock and held fall together (a `sale` movement);
        available, and so low stock, does not move."""
        self._move(product, -quantity, MovementKind.SALE)
        slot = self.uow.update(
            Product(sku=product.sku),
            [Product.stock.add(-quantity), Product.held.add(-quantity)],
            condition=(Product.held >= quantity) & (Product.incarnation == product.incarnation),
            old=True,
            name=product.sku,
        )
        self._lines.append(StockLine(slot, product, 0))

    def _lower_available(self, product: Product, quantity: int, actions: list[Any]) -> None:
        available, threshold = product.available, int(product.low_stock_threshold)
        condition = _has_available(product, quantity)
        alerting = (
            self.alert
            and not episodes.is_low(available, threshold)
            and episodes.is_low(available - quantity, threshold)
        )
        if alerting:
            self._alert_slots += episodes.add_open_ops(
                self.uow, product, available - quantity, threshold
            )
            self.uow.after_commit(episodes.count_opened)
            condition &= Product.headroom < quantity  # it really becomes low
        slot = self.uow.update(product, actions, condition=condition, old=True, name=product.sku)
        self._lines.append(StockLine(slot, product, quantity, alerting))

    def _raise_available(
        self, product: Product, actions: list[Any], condition: Any | None = None
    ) -> None:
        same = Product.incarnation == product.incarnation
        slot = self.uow.update(
            Product(sku=product.sku),
            actions,
            condition=same if condition is None else same & condition,
            old=True,
            name=product.sku,
        )
        self._lines.append(StockLine(slot, product, 0))
        if episodes.is_low(product.available, int(product.low_stock_threshold)):
            if not self._recovering:  # one pass over them all: it stops when DynamoDB is down
                self.uow.after_commit(lambda: settle_episodes(self._recovering))
            self._recovering.append(product.sku)

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

    def _move(self, product: Product, change: int, kind: MovementKind) -> None:
        ledger.add_movement(
            self.uow, product.sku, product.incarnation, kind, change, self.reference, self.cause
        )

    def raise_for(self, failed: Failures) -> None:
        """Raise for this side's failed conditions: 409 short lines, StaleAlert (write again
        without alerts) or Contention (read again)."""
        sort_failures(self._lines, self._alert_slots, failed)


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
        now = failed.old(line.slot, Product)
        if line.read is None or now is None:
            raise db.Contention()  # a gone product is back, or a product is gone: read again
        if now.incarnation != line.read.incarnation:
            raise db.Contention()  # re-created since the read
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


def settle_episodes(skus: Iterable[str]) -> None:
    """Best effort: resolve the episodes of products seen low that may have recovered."""
    for sku in skus:
        try:
            episodes.close_episode(sku)
        except Exception as exc:  # the scheduled check resolves it too
            log.warning("could not close the low-stock episode of %s", sku, exc_info=True)
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
