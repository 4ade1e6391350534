"""Sales orders: sell, list, read, cancel.

A sale is one BatchGetItem (the products, the customer, the idempotency marker; consistent) and
one TransactWriteItems: every product's conditional stock update (`stock >= q`, same incarnation),
the order, its ledger rows, the marker and, when the sale makes a product low, the episode's
writes. Stock is never read, modified and written back: the conditions decide.

The helpers here (`Write`, `read_batch`, `take_stock`, `give_stock`) serve purchases as well.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import CancellationReason, TransactWriteError

from chalicelib import clock, observability
from chalicelib.alerts import episodes
from chalicelib.errors import (
    DuplicateSku,
    Forbidden,
    InsufficientStock,
    NotFound,
    Unauthorized,
    UnknownCustomer,
    UnknownSku,
)
from chalicelib.inventory import idempotency, ledger
from chalicelib.inventory.idempotency import Intent
from chalicelib.store import db
from chalicelib.store.models import (
    CustomerRef,
    IdempotencyMarker,
    OrderLine,
    Product,
    SalesOrder,
    User,
)
from chalicelib.store.pages import Page, newest_first

log = logging.getLogger("automart")

CENT = Decimal("0.01")
ALL = "all"  # the one partition of the "every order" index
RESOURCE = "sales-orders"


# ---- shared write machinery ----------------------------------------------------------------


class Write:
    """A TransactWrite whose items carry labels, so a cancellation reason names what failed.

    DynamoDB reports one reason per item in request order; PynamoDB 6.1 sends condition checks,
    deletes, puts, then updates, so a label is (kind, position within its kind).
    """

    KINDS = ("check", "delete", "put", "update")

    def __init__(self) -> None:
        self.txn = db.transaction()
        self._labels: list[tuple[str, int, str]] = []

    def _items(self, kind: str) -> list[Any]:
        txn = self.txn
        return {
            "check": txn._condition_check_items,
            "delete": txn._delete_items,
            "put": txn._put_items,
            "update": txn._update_items,
        }[kind]

    def label(self, kind: str, name: str, count: int = 1) -> None:
        """Name the last `count` items of `kind` added."""
        size = len(self._items(kind))
        self._labels += [(kind, index, name) for index in range(size - count, size)]

    def commit(self) -> None:
        with self.txn:
            pass
        opened = {name for _, _, name in self._labels if name.startswith("alert:")}
        if opened:
            episodes.count_opened(len(opened))

    def failures(self, exc: TransactWriteError) -> dict[str, CancellationReason]:
        """Labelled items whose condition failed, with the item as it was (ALL_OLD) if asked."""
        offsets, offset = {}, 0
        for kind in self.KINDS:
            offsets[kind] = offset
            offset += len(self._items(kind))
        reasons = exc.cancellation_reasons or []
        failed: dict[str, CancellationReason] = {}
        for kind, index, name in self._labels:
            position = offsets[kind] + index
            reason = reasons[position] if position < len(reasons) else None
            if reason is not None and reason.code == "ConditionalCheckFailed":
                failed.setdefault(name, reason)
        return failed


@dataclass
class Reads:
    found: dict[Any, dict[str, Any]] = field(default_factory=dict)  # model -> hash key -> item

    def of(self, model: Any) -> dict[str, Any]:
        return self.found.get(model, {})

    @property
    def products(self) -> dict[str, Product]:
        return self.of(Product)

    @property
    def users(self) -> dict[str, User]:
        return self.of(User)

    @property
    def marker(self) -> IdempotencyMarker | None:
        return next(iter(self.of(IdempotencyMarker).values()), None)


def read_batch(
    skus: Iterable[str] = (),
    user_ids: Iterable[str] = (),
    marker_key: str | None = None,
    also: tuple[Any, str] | None = None,
) -> Reads:
    """One consistent BatchGetItem across tables (more only if DynamoDB leaves keys unprocessed).

    `also`: (model, hash key) of one more item, e.g. the order this request is about to create.
    """
    wanted: dict[Any, list[str]] = {
        Product: sorted(set(skus)),
        User: sorted(set(user_ids)),
        IdempotencyMarker: [marker_key] if marker_key else [],
    }
    if also is not None:
        wanted[also[0]] = [also[1]]
    models = {model.Meta.table_name: model for model in wanted}
    request = {
        model.Meta.table_name: {
            "Keys": [{model._hash_keyname: {"S": value}} for value in values],
            "ConsistentRead": True,
        }
        for model, values in wanted.items()
        if values
    }
    reads = Reads()
    for attempt in range(6):
        if not request:
            return reads
        try:
            response = db.client().batch_get_item(RequestItems=request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in db.RETRYABLE_CODES:
                raise db.Contention() from exc  # with_retries backs off and reads again
            raise
        for table, items in response.get("Responses", {}).items():
            model = models[table]
            for raw in items:
                item = model.from_raw_data(raw)
                reads.found.setdefault(model, {})[getattr(item, model._hash_keyname)] = item
        request = response.get("UnprocessedKeys") or {}
        if request:
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
    raise db.Contention()


def _stock_actions(change: int) -> list[Any]:
    # headroom (stock - threshold) moves in the same expression as stock: the low-stock index.
    return [Product.stock.add(change), Product.headroom.add(change)]


def take_stock(
    write: Write, product: Product, quantity: int, kind: str, reference: str, alert: bool
) -> None:
    """Take `quantity` out of `product` (as read) with its movement, all or nothing.

    With `alert`, a take that makes the product low opens its episode in the same transaction;
    the product's condition then also requires that it really becomes low (headroom < q).
    """
    stock, threshold = int(product.stock), int(product.low_stock_threshold)
    condition = (Product.stock >= quantity) & (Product.incarnation == product.incarnation)
    if (
        alert
        and not episodes.is_low(stock, threshold)
        and episodes.is_low(stock - quantity, threshold)
    ):
        episodes.add_open_ops(write.txn, product, stock - quantity, threshold)
        write.label("put", f"alert:{product.sku}", 2)
        condition &= Product.headroom < quantity
    ledger.add_movement(write.txn, product.sku, product.incarnation, kind, -quantity, reference)
    write.txn.update(product, _stock_actions(-quantity), condition=condition, return_values=ALL_OLD)
    write.label("update", f"product:{product.sku}")


def give_stock(
    write: Write, sku: str, incarnation: str, quantity: int, kind: str, reference: str
) -> None:
    """Put `quantity` back into the product of this incarnation (fails if it was re-created)."""
    ledger.add_movement(write.txn, sku, incarnation, kind, quantity, reference)
    write.txn.update(
        Product(sku=sku),
        _stock_actions(quantity),
        condition=Product.incarnation == incarnation,
        return_values=ALL_OLD,
    )
    write.label("update", f"product:{sku}")


class StaleAlert(Exception):
    """The read said a product becomes low, the write found otherwise: write without alerts."""


def shortages(
    failed: dict[str, CancellationReason], wanted: dict[str, tuple[Product, int]]
) -> list[dict[str, Any]]:
    """Sort out failed product conditions: short lines, or raise to read again / drop alerts."""
    short, stale = [], False
    for sku, (read, quantity) in wanted.items():
        reason = failed.get(f"product:{sku}")
        if reason is None:
            continue
        if not reason.raw_item:
            raise db.Contention()  # deleted since the read: read again (then unknown_sku)
        now = Product.from_raw_data(reason.raw_item)
        if now.incarnation != read.incarnation:
            raise db.Contention()  # re-created since the read
        if now.stock < quantity:
            short.append({"sku": sku, "requested": quantity, "available": int(now.stock)})
        else:
            stale = True  # only the "becomes low" part failed
    if not short and (stale or any(name.startswith("alert:") for name in failed)):
        raise StaleAlert()
    return short


def settle_episodes(skus: Iterable[str]) -> None:
    """Best effort: resolve the episodes of products seen low that may have recovered."""
    for sku in skus:
        try:
            episodes.close_episode(sku)
        except Exception:  # the scheduled check resolves it too
            log.warning("could not close the low-stock episode of %s", sku, exc_info=True)


# ---- sales orders --------------------------------------------------------------------------


@dataclass(frozen=True)
class LineIn:
    sku: str
    quantity: int


def create_order(
    caller_id: str,
    role: str,
    lines: list[LineIn],
    note: str | None,
    customer_id: str | None,
    wanted: Intent,
) -> tuple[SalesOrder, bool]:
    """Sell. Returns (order, created): created is False for an idempotent replay."""
    db.bind()
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.sku in seen:
            raise DuplicateSku(
                details=[
                    {
                        "field": f"items.{index}.sku",
                        "sku": line.sku,
                        "message": "this sku is already on the order",
                    }
                ]
            )
        seen.add(line.sku)
    if customer_id is not None and role == "customer" and customer_id != caller_id:
        raise Forbidden("A customer may only order for themselves")
    # One id for every attempt: an attempt that finds it written knows an earlier attempt of
    # this request committed (its answer was lost), and must not sell again.
    order_id = clock.new_id()
    order, created = db.with_retries(
        lambda: _create(order_id, caller_id, lines, note, customer_id or caller_id, wanted),
        attempts=6,
    )
    if created:
        observability.metric("OrdersCreated")
    return order, created


def _create(
    order_id: str,
    caller_id: str,
    lines: list[LineIn],
    note: str | None,
    customer_id: str,
    wanted: Intent,
) -> tuple[SalesOrder, bool]:
    reads = read_batch(
        [line.sku for line in lines], [customer_id], wanted.marker_key, also=(SalesOrder, order_id)
    )
    if order_id in reads.of(SalesOrder):
        return reads.of(SalesOrder)[order_id], True
    replay = idempotency.replayed_id(reads.marker, wanted)
    if replay is not None:
        return _replayed(replay), False
    customer = reads.users.get(customer_id)
    if customer is None:
        if customer_id == caller_id:
            raise Unauthorized("This account no longer exists")
        raise UnknownCustomer(details=[{"field": "customer_id", "customer_id": customer_id}])
    unknown = [line.sku for line in lines if line.sku not in reads.products]
    if unknown:
        raise UnknownSku(details=[{"sku": sku} for sku in unknown])
    short = [
        {
            "sku": line.sku,
            "requested": line.quantity,
            "available": int(reads.products[line.sku].stock),
        }
        for line in lines
        if reads.products[line.sku].stock < line.quantity
    ]
    if short:
        raise InsufficientStock(details=short)

    order = _new_order(order_id, caller_id, customer, lines, reads.products, note, wanted)
    try:
        replay = _write_order(order, lines, reads.products, wanted, alert=True)
    except StaleAlert:  # the scheduled check will open the episode
        replay = _write_order(order, lines, reads.products, wanted, alert=False)
    if replay is not None:
        return _replayed(replay), replay == order.id
    return order, True


def _new_order(
    order_id: str,
    caller_id: str,
    customer: User,
    lines: list[LineIn],
    products: dict[str, Product],
    note: str | None,
    wanted: Intent,
) -> SalesOrder:
    items = []
    for line in lines:
        product = products[line.sku]
        unit_price = product.price.quantize(CENT)
        items.append(
            OrderLine(
                sku=line.sku,
                name=product.name,
                quantity=line.quantity,
                unit_price=unit_price,
                line_total=unit_price * line.quantity,
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
        created_by=caller_id,
        body_hash=wanted.body_hash,
        list_key=ALL,
        customer_key=customer.id,
        recorder_key=caller_id,
    )


def _write_order(
    order: SalesOrder,
    lines: list[LineIn],
    products: dict[str, Product],
    wanted: Intent,
    alert: bool,
) -> str | None:
    """The one transaction. Returns the id of an order that already answers this request."""
    write = Write()
    write.txn.save(order, condition=SalesOrder.id.does_not_exist())
    write.label("put", "order")
    if wanted.marker_key:
        idempotency.add_marker(write.txn, wanted, order.id)
        write.label("put", "marker")
    for line in lines:
        take_stock(write, products[line.sku], line.quantity, "sale", order.id, alert)
    try:
        write.commit()
    except TransactWriteError as exc:
        if db.is_retryable(exc):
            raise
        failed = write.failures(exc)
        if "order" in failed:  # written by an earlier attempt whose answer was lost
            return order.id
        if "marker" in failed:  # the same key, sent twice at once: the other one won
            return idempotency.replayed_id(idempotency.read(wanted), wanted) or _again(exc)
        short = shortages(failed, {line.sku: (products[line.sku], line.quantity) for line in lines})
        if short:
            raise InsufficientStock(details=short) from None
        raise
    return None


def _again(exc: Exception) -> str:
    raise db.Contention() from exc  # the winning marker expired at once: start over


def _live_order(order_id: str, missing: str) -> SalesOrder:
    """The order, unless it does not exist or was cancelled (then `missing` as a 404)."""
    order = db.get_live(SalesOrder, order_id, "cancelled_at")
    if order is None:
        raise NotFound(missing)
    return order


def _replayed(order_id: str) -> SalesOrder:
    return _live_order(order_id, "The order created with this Idempotency-Key was cancelled")


def _visible(order: SalesOrder, caller_id: str, role: str) -> bool:
    return role == "admin" or caller_id in (order.customer.id, order.created_by)


def get_order(caller_id: str, role: str, order_id: str) -> SalesOrder:
    db.bind()
    order = _live_order(order_id, "No order has this id")
    if not _visible(order, caller_id, role):
        raise NotFound("No order has this id")
    return order


def list_orders(
    caller_id: str, role: str, customer_id: str | None, limit: int, after: str | None
) -> Page[SalesOrder]:
    """Newest first: a Query on the index built for each view (cancelled orders have no keys)."""
    db.bind()
    if role == "admin":
        sources = [
            (SalesOrder.by_customer, customer_id) if customer_id else (SalesOrder.all_orders, ALL)
        ]
    elif customer_id not in (None, caller_id):
        raise Forbidden("Only an admin may list another user's orders")
    elif role == "staff":
        sources = [(SalesOrder.by_customer, caller_id), (SalesOrder.by_recorder, caller_id)]
    else:
        sources = [(SalesOrder.by_customer, caller_id)]
    return newest_first(sources, SalesOrder.id, limit, after)


def cancel_order(order_id: str) -> SalesOrder:
    """Give every line's stock back, atomically; lines of products deleted or re-created since
    get nothing."""
    db.bind()
    order, was_low = db.with_retries(lambda: _cancel(order_id), attempts=6)
    settle_episodes(was_low)
    return order


def _cancel(order_id: str) -> tuple[SalesOrder, list[str]]:
    try:
        order = SalesOrder.get(order_id, consistent_read=True)
    except SalesOrder.DoesNotExist:
        raise NotFound("No order has this id") from None
    if order.cancelled_at is not None:
        raise NotFound("No order has this id")
    products = read_batch([line.sku for line in order.items]).products
    write = Write()
    write.txn.update(
        order,
        [
            SalesOrder.cancelled_at.set(clock.iso()),
            SalesOrder.list_key.remove(),
            SalesOrder.customer_key.remove(),
            SalesOrder.recorder_key.remove(),
        ],
        condition=SalesOrder.cancelled_at.does_not_exist() & SalesOrder.id.exists(),
    )
    write.label("update", "order")
    was_low = []
    for line in order.items:
        product = products.get(line.sku)
        if product is None or product.incarnation != line.incarnation:
            continue  # its stock left with the product
        give_stock(write, line.sku, line.incarnation, line.quantity, "sale_cancelled", order.id)
        if episodes.is_low(product.stock, product.low_stock_threshold):
            was_low.append(line.sku)
    try:
        write.commit()
    except TransactWriteError as exc:
        if db.is_retryable(exc):
            raise
        failed = write.failures(exc)
        if "order" in failed:
            raise NotFound("No order has this id") from None  # cancelled meanwhile
        if failed:
            raise db.Contention() from exc  # a product was deleted or re-created: read again
        raise
    return order, was_low
