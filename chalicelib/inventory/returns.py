"""Returns: units a customer brought back, restocked or written off, line by line.

One BatchGetItem (the order, its products named by the return, the Idempotency-Key marker) and
one TransactWriteItems: the order's lines with their new `returned` counts under the condition that
no other return or a cancellation landed since (its `revision`), each restocked line's stock with
its `return_restocked` movement, each written-off line's `return_written_off` movement (0 units)
and the marker. Two returns of one order at once: one commits, the other reads again and finds
what is left, so no order ever returns more than it sold.
"""

from __future__ import annotations

from typing import Any

from chalicelib.errors import NotFound, ReturnExceedsOrder, UnknownSku
from chalicelib.inventory import idempotency, ledger
from chalicelib.inventory.idempotency import Created, Intent
from chalicelib.inventory.sales import MISSING, ORDERS, refuse_repeated_skus, returned, unchanged
from chalicelib.inventory.stock import StockChanges, same_product
from chalicelib.schemas.orders import ReturnIn
from chalicelib.store.models import OrderLine, SalesOrder
from chalicelib.store.transact import Reads, UnitOfWork, read_batch
from chalicelib.vocabulary import RETURN_REASON, Caller, MovementKind


def record_return(
    caller: Caller, order_id: str, body: ReturnIn, wanted: Intent
) -> Created[SalesOrder]:
    refuse_repeated_skus(body.items)
    wanted_lines = {line.sku: line for line in body.items}
    cause = ledger.Cause(caller.id, RETURN_REASON, body.note)

    def read_for(marker_key: str | None) -> Reads:
        return read_batch(wanted_lines, marker_key=marker_key, also=[(SalesOrder, order_id)])

    def write(uow: UnitOfWork, reads: Reads, change_id: str) -> tuple[SalesOrder, Any]:
        order = reads.of(SalesOrder).get(order_id)
        if order is None or order.cancelled_at is not None:
            raise NotFound(MISSING)
        lines = {line.sku: line for line in order.items}
        unknown = [sku for sku in wanted_lines if sku not in lines]
        if unknown:
            raise UnknownSku(details=[{"sku": sku} for sku in unknown])
        exceeding = [
            {
                "sku": sku,
                "ordered": int(lines[sku].quantity),
                "returned": returned(lines[sku]),
                "requested": line.quantity,
            }
            for sku, line in wanted_lines.items()
            if returned(lines[sku]) + line.quantity > int(lines[sku].quantity)
        ]
        if exceeding:
            raise ReturnExceedsOrder(details=exceeding)
        items = [_with_returned(line, wanted_lines) for line in order.items]
        uow.update(
            order,
            [SalesOrder.items.set(items), SalesOrder.revision.add(1)],
            condition=SalesOrder.cancelled_at.does_not_exist() & unchanged(order),
            name="order",
        )
        changes = StockChanges(uow, order.id, cause)
        for sku, line in wanted_lines.items():
            product = same_product(reads.products, sku, lines[sku].incarnation)
            if product is None:
                # Its stock left with the product: the units are counted returned, no more.
                changes.expect_gone(sku, lines[sku].incarnation)
            elif line.restock:
                changes.give(product, line.quantity, MovementKind.RETURN_RESTOCKED)
            else:
                ledger.add_movement(
                    uow,
                    sku,
                    product.incarnation,
                    MovementKind.RETURN_WRITTEN_OFF,
                    0,
                    order.id,
                    cause,
                )
        after = SalesOrder(**{**order.attribute_values, "items": items})
        after.revision = int(order.revision or 0) + 1
        # A failed condition: another return or a cancellation landed, or a product changed.
        return after, idempotency.read_again

    def answer() -> SalesOrder:
        return ORDERS.live(order_id, MISSING)

    return idempotency.change_once(wanted, read_for, write, answer)


def _with_returned(line: OrderLine, wanted: dict[str, Any]) -> OrderLine:
    added = wanted[line.sku].quantity if line.sku in wanted else 0
    return OrderLine(**{**line.attribute_values, "returned": returned(line) + added})
