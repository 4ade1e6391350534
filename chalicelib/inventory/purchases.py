"""Purchase orders: restock, list, read, reverse. Each is one TransactWriteItems."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pynamodb.exceptions import TransactWriteError

from chalicelib import clock
from chalicelib.alerts import episodes
from chalicelib.errors import InsufficientStock, NotFound, UnknownSku
from chalicelib.inventory import idempotency
from chalicelib.inventory.idempotency import Intent
from chalicelib.inventory.orders import (
    ALL,
    StaleAlert,
    Write,
    give_stock,
    read_batch,
    settle_episodes,
    shortages,
    take_stock,
)
from chalicelib.store import db
from chalicelib.store.models import Product, Purchase
from chalicelib.store.pages import Page, newest_first

RESOURCE = "purchase-orders"


def today() -> str:
    return datetime.fromtimestamp(clock.now(), tz=UTC).date().isoformat()


def create_purchase(
    caller_id: str,
    sku: str,
    quantity: int,
    supplier_name: str,
    purchase_date: str | None,
    unit_cost: Decimal | None,
    wanted: Intent,
) -> tuple[Purchase, bool]:
    """Restock. Returns (purchase, created): created is False for an idempotent replay."""
    db.bind()
    purchase_id = clock.new_id()  # one id for every attempt (see orders.create_order)
    purchase, created, was_low = db.with_retries(
        lambda: _create(
            purchase_id,
            caller_id,
            sku,
            quantity,
            supplier_name,
            purchase_date or today(),
            unit_cost,
            wanted,
        ),
        attempts=6,
    )
    if was_low:
        settle_episodes([sku])
    return purchase, created


def _create(
    purchase_id: str,
    caller_id: str,
    sku: str,
    quantity: int,
    supplier_name: str,
    purchase_date: str,
    unit_cost: Decimal | None,
    wanted: Intent,
) -> tuple[Purchase, bool, bool]:
    reads = read_batch([sku], marker_key=wanted.marker_key, also=(Purchase, purchase_id))
    if purchase_id in reads.of(Purchase):  # an earlier attempt committed; its answer was lost
        return reads.of(Purchase)[purchase_id], True, False
    replay = idempotency.replayed_id(reads.marker, wanted)
    if replay is not None:
        return _replayed(replay), False, False
    product = reads.products.get(sku)
    if product is None:
        raise UnknownSku(details=[{"sku": sku}])
    purchase = Purchase(
        id=purchase_id,
        sku=sku,
        product_name=product.name,
        quantity=quantity,
        supplier_name=supplier_name,
        purchase_date=purchase_date,
        unit_cost=unit_cost,
        incarnation=product.incarnation,
        created_at=clock.iso(),
        created_by=caller_id,
        body_hash=wanted.body_hash,
        list_key=ALL,
    )
    write = Write()
    write.txn.save(purchase, condition=Purchase.id.does_not_exist())
    write.label("put", "purchase")
    if wanted.marker_key:
        idempotency.add_marker(write.txn, wanted, purchase.id)
        write.label("put", "marker")
    give_stock(write, sku, product.incarnation, quantity, "purchase", purchase.id)
    try:
        write.commit()
    except TransactWriteError as exc:
        if db.is_retryable(exc):
            raise
        failed = write.failures(exc)
        if "purchase" in failed:  # written by an earlier attempt whose answer was lost
            return Purchase.get(purchase_id, consistent_read=True), True, False
        if "marker" in failed:  # the same key, sent twice at once: the other one won
            replay = idempotency.replayed_id(idempotency.read(wanted), wanted)
            if replay is None:
                raise db.Contention() from exc
            return _replayed(replay), False, False
        if failed:
            raise db.Contention() from exc  # deleted or re-created since the read
        raise
    return purchase, True, episodes.is_low(int(product.stock), int(product.low_stock_threshold))


def _live_purchase(purchase_id: str, missing: str) -> Purchase:
    """The purchase, unless it does not exist or was reversed (then `missing` as a 404)."""
    purchase = db.get_live(Purchase, purchase_id, "reversed_at")
    if purchase is None:
        raise NotFound(missing)
    return purchase


def _replayed(purchase_id: str) -> Purchase:
    return _live_purchase(
        purchase_id, "The purchase created with this Idempotency-Key was reversed"
    )


def get_purchase(purchase_id: str) -> Purchase:
    db.bind()
    return _live_purchase(purchase_id, "No purchase has this id")


def list_purchases(limit: int, after: str | None) -> Page[Purchase]:
    db.bind()
    return newest_first([(Purchase.all_purchases, ALL)], Purchase.id, limit, after)


def reverse_purchase(purchase_id: str) -> Purchase:
    """Take the quantity back out of stock: 409 insufficient_stock if stock is below it.

    A purchase of a product since deleted or re-created is reversed without touching stock (its
    stock left with the product), as a cancelled order's line is.
    """
    db.bind()
    return db.with_retries(lambda: _reverse(purchase_id), attempts=6)


def _reverse(purchase_id: str) -> Purchase:
    purchase = get_purchase(purchase_id)
    product = read_batch([purchase.sku]).products.get(purchase.sku)
    if product is not None and product.incarnation != purchase.incarnation:
        product = None  # re-created: this purchase's stock left with the old one
    if product is not None and product.stock < purchase.quantity:
        raise InsufficientStock(
            details=[
                {
                    "sku": purchase.sku,
                    "requested": purchase.quantity,
                    "available": int(product.stock),
                }
            ]
        )
    try:
        _write_reversal(purchase, product, alert=True)
    except StaleAlert:  # the scheduled check will open the episode
        _write_reversal(purchase, product, alert=False)
    return purchase


def _write_reversal(purchase: Purchase, product: Product | None, alert: bool) -> None:
    write = Write()
    write.txn.update(
        purchase,
        [Purchase.reversed_at.set(clock.iso()), Purchase.list_key.remove()],
        condition=Purchase.reversed_at.does_not_exist() & Purchase.id.exists(),
    )
    write.label("update", "purchase")
    if product is None:
        # Still gone or re-created when we write, or we read again.
        write.txn.condition_check(
            Product,
            purchase.sku,
            condition=Product.sku.does_not_exist() | (Product.incarnation != purchase.incarnation),
        )
        write.label("check", "product-gone")
    else:
        take_stock(write, product, int(purchase.quantity), "purchase_reversed", purchase.id, alert)
    try:
        write.commit()
    except TransactWriteError as exc:
        if db.is_retryable(exc):
            raise
        failed = write.failures(exc)
        if "purchase" in failed:
            raise NotFound("No purchase has this id") from None  # reversed meanwhile
        if "product-gone" in failed:
            raise db.Contention() from exc
        if product is not None:
            short = shortages(failed, {product.sku: (product, int(purchase.quantity))})
            if short:
                raise InsufficientStock(details=short) from None
        raise
