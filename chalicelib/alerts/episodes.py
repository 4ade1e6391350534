"""Low-stock episodes: one notification each, opened and closed with conditional writes.

An episode is open while an `AlertState` item exists for the sku; putting it with
`attribute_not_exists` is what makes its notification unique, whoever races to create it (a
sale, a hold, an adjustment, the scheduled check). The product's `headroom` (available -
threshold) is checked in the same transaction, so an episode is only opened for a product that
is low and only closed for one that is not. A product in stock parts has no one item that holds
its total: every part is checked instead, each allowed its share of the margin the read left.
"""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action

from chalicelib import clock, observability
from chalicelib.store import parts
from chalicelib.store.db import Contention
from chalicelib.store.models import AlertState, Notification, Product
from chalicelib.store.transact import Slot, UnitOfWork, read_batch
from chalicelib.vocabulary import NotificationStatus


def is_low(available: float, threshold: float) -> bool:
    """Low: fewer units available (stock - held) than the threshold."""
    return available < threshold


def new_notification(product: Product, available: int, threshold: int) -> Notification:
    # `stock` is what the episode is about: the units available (the stock, when none are held).
    return Notification(
        id=clock.new_id(),
        sku=product.sku,
        product_name=product.name,
        message=f"{product.name} ({product.sku}) is low on stock: {available} available, "
        f"threshold {threshold}",
        stock=available,
        threshold=threshold,
        status=str(NotificationStatus.OPEN),
        created_at=clock.iso(),
        visible_status=str(NotificationStatus.OPEN),
        email_pending="pending",
    )


def count_opened(episodes: int = 1) -> None:
    """Called once the write that opened them committed: the LowStockAlerts metric."""
    observability.metric("LowStockAlerts", episodes)


def add_open_ops(uow: UnitOfWork, product: Product, available: int, threshold: int) -> list[Slot]:
    """Add the episode's writes to a unit of work that makes `product` low; their slots."""
    notification = new_notification(product, available, threshold)
    return [
        uow.put(
            AlertState(sku=product.sku, notification_id=notification.id),
            condition=AlertState.sku.does_not_exist(),
            name=f"{product.sku} episode",
        ),
        uow.put(notification, condition=Notification.id.does_not_exist(), name="notification"),
    ]


def open_episode(product: Product) -> bool:
    """Open an episode for a product seen low; False if one is open already or it is not low."""
    uow = UnitOfWork()
    if parts.is_sharded(product):
        try:
            parts.check_available(uow, product, at_most=True)  # still low when it commits
        except Contention:
            return False  # read while a resize committed: the next write or check opens it
    else:
        uow.check(
            Product,
            product.sku,
            condition=(Product.headroom < 0)
            & (Product.incarnation == product.incarnation)
            & parts.unsharded(),
        )
    add_open_ops(uow, product, product.available, int(product.low_stock_threshold))
    uow.after_commit(count_opened)
    return not uow.commit()


def close_episode(sku: str, product: Product | None = None) -> bool:
    """Resolve the open episode of a product that is no longer low (or no longer exists).
    `product`: as a write read it; a sharded one is read again (its total is in no one item)."""
    try:
        state = AlertState.get(sku, consistent_read=True)
        notification = Notification.get(state.notification_id, consistent_read=True)
    except DoesNotExist:
        return False
    uow = UnitOfWork()
    if product is not None and parts.is_sharded(product):
        product = read_batch([sku]).products.get(sku)
    if product is not None and parts.is_sharded(product):
        if is_low(product.available, product.low_stock_threshold):
            return False
        try:
            parts.check_available(uow, product, at_most=False)  # still not low when it commits
        except Contention:
            return False  # read while a resize committed: the next write or check closes it
    else:
        uow.check(
            Product,
            sku,
            condition=Product.sku.does_not_exist() | ((Product.headroom >= 0) & parts.unsharded()),
        )
    resolved = str(NotificationStatus.RESOLVED)
    actions: list[Action] = [
        Notification.status.set(resolved),
        Notification.resolved_at.set(clock.iso()),
    ]
    if notification.handled_at is None:
        actions.append(Notification.visible_status.set(resolved))
    uow.delete(state, condition=AlertState.notification_id == notification.id)
    uow.update(
        notification,
        actions,
        condition=Notification.handled_at.exists()
        if notification.handled_at
        else Notification.handled_at.does_not_exist(),
    )
    return not uow.commit()


def after_write(before: Product, after: Product) -> None:
    """After a write whose result is known (an edit, a set stock): open or close the episode it
    started or ended."""
    if is_low(before.available, before.low_stock_threshold) or is_low(
        after.available, after.low_stock_threshold
    ):
        sync(after)


def sync(product: Product) -> None:
    """After a write whose result is known: open or close the product's episode as needed (a
    sharded product is read again: its parts are what the conditions check)."""
    if parts.is_sharded(product):
        found = read_batch([product.sku]).products.get(product.sku)
        if found is None:
            return
        product = found
    if is_low(product.available, product.low_stock_threshold):
        open_episode(product)
    else:
        close_episode(product.sku, product)
