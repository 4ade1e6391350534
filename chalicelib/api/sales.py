"""Routes: /sales-orders."""

from __future__ import annotations

from chalicelib.api.pagination import decode_cursor, page_out
from chalicelib.api.routing import ADMIN, ADMIN_STAFF, ANY_ROLE, Call, Resource
from chalicelib.inventory import holds, returns, sales
from chalicelib.schemas import Page
from chalicelib.schemas.orders import (
    CustomerOut,
    OrderLineOut,
    ReturnIn,
    SalesOrderIn,
    SalesOrderOut,
    SalesOrderQuery,
)
from chalicelib.store.models import SalesOrder
from chalicelib.vocabulary import OrderStatus

api = Resource("sales-orders")


def order_out(order: SalesOrder) -> SalesOrderOut:
    c = order.customer
    lines = [
        OrderLineOut(
            sku=line.sku,
            name=line.name,
            quantity=int(line.quantity),
            returned=sales.returned(line),
            unit_price=line.unit_price,
            line_total=line.line_total,
        )
        for line in order.items
    ]
    return SalesOrderOut(
        id=order.id,
        status=_status(lines),
        customer=CustomerOut(id=c.id, email=c.email, name=c.name),
        items=lines,
        total=order.total,
        note=order.note,
        created_at=order.created_at,
        created_by=order.created_by,
        hold_id=order.hold_id,
    )


def _status(lines: list[OrderLineOut]) -> OrderStatus:
    if all(line.returned == line.quantity for line in lines):
        return OrderStatus.RETURNED
    if any(line.returned for line in lines):
        return OrderStatus.PARTIALLY_RETURNED
    return OrderStatus.PLACED


@api.route(
    "/sales-orders",
    "POST",
    roles=ANY_ROLE,
    body=SalesOrderIn,
    response=SalesOrderOut,
    status=201,
    idempotent=True,
    errors=(403, 404, 409, 422),
    summary="Sell: all lines or none, or a hold's lines ({hold_id}); prices from the catalog",
)
def create_order(call: Call) -> tuple[SalesOrderOut, int]:
    body = call.body
    if body.hold_id is not None:
        result = holds.convert_hold(call.me, body.hold_id, body.note, call.wanted)
    else:
        result = sales.create_order(call.me, body, call.wanted)
    return order_out(result.item), 201 if result.created else 200


@api.route(
    "/sales-orders",
    "GET",
    roles=ANY_ROLE,
    query=SalesOrderQuery,
    response=Page[SalesOrderOut],
    errors=(403,),
    summary="Orders newest first: admin all (?customer_id=), staff theirs and recorded, "
    "customers theirs",
)
def list_orders(call: Call) -> dict:
    q = call.query
    page = sales.list_orders(call.me, q.customer_id, q.limit, decode_cursor(q.cursor))
    return page_out(page, order_out)


@api.route(
    "/sales-orders/{id}",
    "GET",
    roles=ANY_ROLE,
    response=SalesOrderOut,
    errors=(404,),
    summary="One order (its customer, the staff who recorded it, admin)",
)
def get_order(call: Call) -> SalesOrderOut:
    return order_out(sales.get_order(call.me, call.params["id"]))


@api.route(
    "/sales-orders/{id}",
    "DELETE",
    roles=ADMIN,
    status=204,
    errors=(404,),
    summary="Cancel: every line's stock not yet returned is given back, atomically",
)
def cancel_order(call: Call) -> None:
    sales.cancel_order(call.me.id, call.params["id"])


@api.route(
    "/sales-orders/{id}/returns",
    "POST",
    roles=ADMIN_STAFF,
    body=ReturnIn,
    response=SalesOrderOut,
    status=201,
    idempotent=True,
    errors=(404, 409, 422),
    summary="Record units brought back (any order, admin and staff): restocked or written off, "
    "line by line",
)
def record_return(call: Call) -> tuple[SalesOrderOut, int]:
    result = returns.record_return(call.me, call.params["id"], call.body, call.wanted)
    return order_out(result.item), 201 if result.created else 200
