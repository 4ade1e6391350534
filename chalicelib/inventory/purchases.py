"""Purchase orders: restock, list, read, reverse. Each is one TransactWriteItems."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib import clock
from chalicelib.errors import InsufficientStock, NotFound, UnknownSku
from chalicelib.inventory import idempotency
from chalicelib.inventory.idempotency import Created, Intent, Undoable
from chalicelib.inventory.ledger import Cause
from chalicelib.inventory.stock import StockChanges, same_product, with_alerts
from chalicelib.schemas.orders import PurchaseIn
from chalicelib.store import db, shards
from chalicelib.store.models import Product, Purchase
from chalicelib.store.pages import Page, newest_first
from chalicelib.store.transact import Reads, UnitOfWork, read_batch
from chalicelib.vocabulary import Caller, MovementKind

PURCHASES = Undoable(
    Purchase, "reversed_at", "The purchase created with this Idempotency-Key was reversed"
)
MISSING = "No purchase has this id"


def today() -> str:
    return datetime.fromtimestamp(clock.now(), tz=UTC).date().isoformat()


def create_purchase(caller: Caller, body: PurchaseIn, wanted: Intent) -> Created[Purchase]:
    """Restock: the product's stock rises by the quantity, with its movement."""

    def build(purchase_id: str, reads: Reads) -> Purchase:
        product = reads.products.get(body.sku)
        if product is None:
            raise UnknownSku(details=[{"sku": body.sku}])
        return Purchase(
            id=purchase_id,
            sku=body.sku,
            product_name=product.name,
            quantity=body.quantity,
            supplier_name=body.supplier_name,
            purchase_date=body.purchase_date or today(),
            unit_cost=body.unit_cost,
            incarnation=product.incarnation,
            created_at=clock.iso(),
            created_by=caller.id,
            body_hash=wanted.body_hash,
            list_key=shards.list_key(purchase_id),
        )

    return idempotency.create_once(PURCHASES, wanted, build, _restock, skus=[body.sku])


def _restock(uow: UnitOfWork, purchase: Purchase, reads: Reads, alert: bool) -> StockChanges:
    changes = StockChanges(uow, purchase.id, Cause(purchase.created_by))
    changes.give(reads.products[purchase.sku], int(purchase.quantity), MovementKind.PURCHASE)
    return changes


def get_purchase(purchase_id: str) -> Purchase:
    return PURCHASES.live(purchase_id, MISSING)


def list_purchases(limit: int, after: str | None) -> Page[Purchase]:
    return newest_first(shards.every(Purchase.all_purchases), Purchase.id, limit, after)


def reverse_purchase(actor: str, purchase_id: str) -> Purchase:
    """Take the quantity back out of stock: 409 insufficient_stock if fewer units are available
    (stock - held).

    A purchase of a product since deleted or re-created is reversed without touching stock (its
    stock left with the product), as a cancelled order's line is.
    """
    return db.with_retries(lambda: _reverse(actor, purchase_id), attempts=6)


def _reverse(actor: str, purchase_id: str) -> Purchase:
    purchase = get_purchase(purchase_id)
    product = same_product(read_batch([purchase.sku]).products, purchase.sku, purchase.incarnation)
    if product is not None and product.available < purchase.quantity:
        # Stock may not go below what holds keep.
        raise InsufficientStock(
            details=[
                {
                    "sku": purchase.sku,
                    "requested": int(purchase.quantity),
                    "available": product.available,
                }
            ]
        )
    with_alerts(lambda alert: _write_reversal(actor, purchase, product, alert))
    return purchase


def _write_reversal(actor: str, purchase: Purchase, product: Product | None, alert: bool) -> None:
    uow = UnitOfWork()
    undo = PURCHASES.add_undo(uow, purchase, [Purchase.list_key])
    changes = StockChanges(uow, purchase.id, Cause(actor), alert=alert)
    if product is None:
        changes.expect_gone(purchase.sku, purchase.incarnation)
    else:
        changes.take(product, int(purchase.quantity), MovementKind.PURCHASE_REVERSED)
    failed = uow.commit()
    if undo in failed:
        raise NotFound(MISSING)  # reversed meanwhile
    if failed:
        changes.raise_for(failed)
        raise db.Contention()
