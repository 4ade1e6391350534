"""Routes: /sales-orders."""

from __future__ import annotations

from chalicelib.api.pagination import decode_cursor, page_out
from chalicelib.api.routing import ADMIN, ANY_ROLE, Call, Resource
from chalicelib.inventory import sales
from chalicelib.schemas import Page
from chalicelib.schemas.orders import (
    CustomerOut,
    OrderLineOut,
    SalesOrderIn,
    SalesOrderOut,
    SalesOrderQuery,
)
from chalicelib.store.models import SalesOrder

api = Resource("sales-orders")


def order_out(order: SalesOrder) -> SalesOrderOut:
    c = order.customer
    return SalesOrderOut(
        id=order.id,
        customer=CustomerOut(id=c.id, email=c.email, name=c.name),
        items=[
            OrderLineOut(
                sku=line.sku,
                name=line.name,
                quantity=int(line.quantity),
                unit_price=line.unit_price,
                line_total=line.line_total,
            )
            for line in order.items
        ],
        total=order.total,
        note=order.note,
        created_at=order.created_at,
        created_by=order.created_by,
    )


@api.route(
    "/sales-orders",
    "POST",
    roles=ANY_ROLE,
    body=SalesOrderIn,
    response=SalesOrderOut,
    status=201,
    idempotent=True,
    errors=(403, 404, 409, 422),
    summary="Sell: all lines or none; prices from the catalog",
)
def create_order(call: Call) -> tuple[SalesOrderOut, int]:
    result = sales.create_order(call.me, call.body, call.wanted)
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
    summary="Cancel: every line's stock is given back, atomically",
)
def cancel_order(call: Call) -> None:
    sales.cancel_order(call.params["id"])
