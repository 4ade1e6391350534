"""Low-stock episodes: one notification each, opened and closed with conditional writes.

An episode is open while an `AlertState` item exists for the sku; putting it with
`attribute_not_exists` is what makes its notification unique, whoever races to create it (a
sale, an adjustment, the scheduled check). The product's `headroom` (stock - threshold) is
checked in the same transaction, so an episode is only opened for a product that is low and
only closed for one that is not.
"""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib import clock, observability
from chalicelib.store import db
from chalicelib.store.models import AlertState, Notification, Product


def is_low(stock: float, threshold: float) -> bool:
    return stock < threshold


def new_notification(product: Product, stock: int, threshold: int) -> Notification:
    return Notification(
        id=clock.new_id(),
        sku=product.sku,
        product_name=product.name,
        message=f"{product.name} ({product.sku}) is low on stock: {stock} left, "
        f"threshold {threshold}",
        stock=stock,
        threshold=threshold,
        status="open",
        created_at=clock.iso(),
        visible_status="open",
        email_pending="pending",
    )


def count_opened(episodes: int = 1) -> None:
    """Called once the write that opened them committed: the LowStockAlerts metric."""
    observability.metric("LowStockAlerts", episodes)


def add_open_ops(txn: TransactWrite, product: Product, stock: int, threshold: int) -> Notification:
    """Add the episode's writes to a transaction that makes `product` low."""
    notification = new_notification(product, stock, threshold)
    txn.save(
        AlertState(sku=product.sku, notification_id=notification.id),
        condition=AlertState.sku.does_not_exist(),
    )
    txn.save(notification, condition=Notification.id.does_not_exist())
    return notification


def open_episode(product: Product) -> Notification | None:
    """Open an episode for a product seen low; None if one is open already or it is not low."""
    notification = None
    try:
        with db.transaction() as txn:
            txn.condition_check(
                Product,
                product.sku,
                condition=(Product.headroom < 0) & (Product.incarnation == product.incarnation),
            )
            notification = add_open_ops(
                txn, product, int(product.stock), int(product.low_stock_threshold)
            )
    except TransactWriteError as exc:
        if "ConditionalCheckFailed" in db.cancellation_codes(exc):
            return None
        raise
    count_opened()
    return notification


def close_episode(sku: str) -> bool:
    """Resolve the open episode of a product that is no longer low (or no longer exists)."""
    try:
        state = AlertState.get(sku, consistent_read=True)
        notification = Notification.get(state.notification_id, consistent_read=True)
    except DoesNotExist:
        return False
    actions: list[Action] = [
        Notification.status.set("resolved"),
        Notification.resolved_at.set(clock.iso()),
    ]
    if notification.handled_at is None:
        actions.append(Notification.visible_status.set("resolved"))
    try:
        with db.transaction() as txn:
            txn.condition_check(
                Product, sku, condition=Product.sku.does_not_exist() | (Product.headroom >= 0)
            )
            txn.delete(state, condition=AlertState.notification_id == notification.id)
            txn.update(
                notification,
                actions,
                condition=Notification.handled_at.exists()
                if notification.handled_at
                else Notification.handled_at.does_not_exist(),
            )
    except TransactWriteError as exc:
        if "ConditionalCheckFailed" in db.cancellation_codes(exc):
            return False
        raise
    return True


def sync(product: Product) -> None:
    """After a write whose result is known: open or close the product's episode as needed."""
    if is_low(product.stock, product.low_stock_threshold):
        open_episode(product)
    else:
        close_episode(product.sku)
