"""Sales orders: sell, list, read, cancel.

A sale is one BatchGetItem (the products, the customer, the idempotency marker; consistent) and
one TransactWriteItems: every product's conditional stock update, the order, its ledger rows,
the marker and, when the sale makes a product low, the episode's writes (`idempotency.create_once`
and `stock.StockChanges`).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from chalicelib import clock, observability
from chalicelib.errors import (
    DuplicateSku,
    Forbidden,
    InsufficientStock,
    NotFound,
    Unauthorized,
    UnknownCustomer,
    UnknownSku,
)
from chalicelib.inventory import idempotency, owners
from chalicelib.inventory.idempotency import Created, Intent, Undoable
from chalicelib.inventory.ledger import Cause
from chalicelib.inventory.stock import StockChanges, same_product
from chalicelib.schemas.orders import SalesOrderIn
from chalicelib.store import db, shards
from chalicelib.store.models import CustomerRef, OrderLine, SalesOrder, User
from chalicelib.store.pages import Page, newest_first
from chalicelib.store.transact import Reads, UnitOfWork, read_batch
from chalicelib.vocabulary import Caller, MovementKind, Role

CENT = Decimal("0.01")
ORDERS = Undoable(
    SalesOrder, "cancelled_at", "The order created with this Idempotency-Key was cancelled"
)
MISSING = "No order has this id"


def refuse_repeated_skus(lines: Iterable[Any]) -> None:
    """400 duplicate_sku when a sku is on two lines of a request (an order, a return)."""
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.sku in seen:
            raise DuplicateSku(
                details=[
                    {
                        "field": f"items.{index}.sku",
                        "sku": line.sku,
                        "message": "this sku is already on another line",
                    }
                ]
            )
        seen.add(line.sku)


def create_order(caller: Caller, body: SalesOrderIn, wanted: Intent) -> Created[SalesOrder]:
    """Sell every line or none, at the catalog's prices (the `{hold_id}` form: `holds`)."""
    assert body.items is not None
    refuse_repeated_skus(body.items)
    lines = [(line.sku, line.quantity) for line in body.items]
    customer_id = customer_of(caller, body.customer_id)

    def build(order_id: str, reads: Reads) -> SalesOrder:
        customer = read_customer(caller, reads, customer_id)
        refuse_short(lines, reads)
        return priced_order(order_id, caller, customer, lines, body.note, reads, wanted)

    result = idempotency.create_once(
        ORDERS,
        wanted,
        build,
        _take_lines,
        skus=[sku for sku, _ in lines],
        user_ids=[customer_id],
        hot=True,
    )
    return counted(result)


def counted(result: Created[SalesOrder]) -> Created[SalesOrder]:
    """Each new order, of either form, counts once in OrdersCreated (a replay does not)."""
    if result.created:
        observability.metric("OrdersCreated")
    return result


def customer_of(caller: Caller, customer_id: str | None) -> str:
    """The customer of an order or a hold: the caller unless named; 403 for a customer naming
    another user."""
    customer_id = customer_id or caller.id
    if caller.role == Role.CUSTOMER and customer_id != caller.id:
        raise Forbidden("A customer may only order for themselves")
    return customer_id


def read_customer(caller: Caller, reads: Reads, customer_id: str) -> User:
    customer = reads.users.get(customer_id)
    if customer is None:
        if customer_id == caller.id:
            raise Unauthorized("This account no longer exists")
        raise UnknownCustomer(details=[{"field": "customer_id", "customer_id": customer_id}])
    return customer


def refuse_short(lines: Iterable[tuple[str, int]], reads: Reads) -> None:
    """422 for skus of no product, 409 for lines with fewer units available than asked."""
    lines = list(lines)
    unknown = [sku for sku, _ in lines if sku not in reads.products]
    if unknown:
        raise UnknownSku(details=[{"sku": sku} for sku in unknown])
    short = [
        {"sku": sku, "requested": quantity, "available": reads.products[sku].available}
        for sku, quantity in lines
        if reads.products[sku].available < quantity
    ]
    if short:
        raise InsufficientStock(details=short)


def priced_order(
    order_id: str,
    caller: Caller,
    customer: User,
    lines: Iterable[tuple[str, int]],
    note: str | None,
    reads: Reads,
    wanted: Intent,
    hold_id: str | None = None,
) -> SalesOrder:
    """The order of these lines at the catalog's prices as read."""
    items = []
    for sku, quantity in lines:
        product = reads.products[sku]
        unit_price = product.price.quantize(CENT)
        items.append(
            OrderLine(
                sku=sku,
                name=product.name,
                quantity=quantity,
                unit_price=unit_price,
                line_total=unit_price * quantity,
                incarnation=product.incarnation,
            )
        )
    return SalesOrder(
        id=order_id,
        customer=CustomerRef(id=customer.id, email=customer.email, name=customer.name),
        items=items,
        total=sum((item.line_total for item in items), Decimal("0.00")),
        note=note,
        created_at=clock.iso(),
        created_by=caller.id,
        body_hash=wanted.body_hash,
        hold_id=hold_id,
        list_key=shards.list_key(order_id),
        customer_key=customer.id,
        recorder_key=caller.id,
    )


def _take_lines(uow: UnitOfWork, order: SalesOrder, reads: Reads, alert: bool) -> StockChanges:
    changes = StockChanges(uow, order.id, Cause(order.created_by), alert=alert)
    for line in order.items:
        changes.take(reads.products[line.sku], int(line.quantity), MovementKind.SALE)
    return changes


def get_order(caller: Caller, order_id: str) -> SalesOrder:
    order = ORDERS.live(order_id, MISSING)
    if not owners.visible(order, caller):
        raise NotFound(MISSING)
    return order


def list_orders(
    caller: Caller, customer_id: str | None, limit: int, after: str | None
) -> Page[SalesOrder]:
    """Newest first: a Query on the index built for each view (cancelled orders have no keys)."""
    every = shards.every(SalesOrder.all_orders)
    sources = owners.list_sources(caller, customer_id, SalesOrder, every)
    return newest_first(sources, SalesOrder.id, limit, after)


def unchanged(order: SalesOrder) -> Any:
    """The condition that no return was recorded on `order` since it was read."""
    if order.revision is None:
        return SalesOrder.revision.does_not_exist()
    return SalesOrder.revision == order.revision


def returned(line: OrderLine) -> int:
    return int(line.returned or 0)


def cancel_order(actor: str, order_id: str) -> SalesOrder:
    """Give back every line's units not yet returned, atomically; lines of products deleted or
    re-created since get nothing."""
    return db.with_retries(lambda: _cancel(actor, order_id), attempts=6)


def _cancel(actor: str, order_id: str) -> SalesOrder:
    order = ORDERS.live(order_id, MISSING)
    products = read_batch([line.sku for line in order.items]).products
    uow = UnitOfWork()
    ORDERS.add_undo(
        uow,
        order,
        [SalesOrder.list_key, SalesOrder.customer_key, SalesOrder.recorder_key],
        unchanged(order),
    )
    changes = StockChanges(uow, order.id, Cause(actor))
    for line in order.items:
        product = same_product(products, line.sku, line.incarnation)
        if product is None:
            continue  # its stock left with the product
        left = int(line.quantity) - returned(line)
        if left:
            changes.give(product, left, MovementKind.SALE_CANCELLED)
    if uow.commit():
        # Cancelled or returned meanwhile, or a product deleted or re-created: read again
        # (a cancelled order is then a 404).
        raise db.Contention()
    return order
