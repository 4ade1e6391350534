"""Routes: /purchase-orders."""

from __future__ import annotations

from chalicelib.api.pagination import decode_cursor, page_out
from chalicelib.api.routing import ADMIN, ADMIN_STAFF, Call, Resource
from chalicelib.inventory import purchases
from chalicelib.schemas import Page, PageQuery
from chalicelib.schemas.orders import PurchaseIn, PurchaseOut
from chalicelib.store.models import Purchase

api = Resource("purchase-orders")


def purchase_out(p: Purchase) -> PurchaseOut:
    return PurchaseOut(
        id=p.id,
        sku=p.sku,
        product_name=p.product_name,
        quantity=int(p.quantity),
        supplier_name=p.supplier_name,
        purchase_date=p.purchase_date,
        unit_cost=p.unit_cost,
        created_at=p.created_at,
        created_by=p.created_by,
    )


@api.route(
    "/purchase-orders",
    "POST",
    roles=ADMIN_STAFF,
    body=PurchaseIn,
    response=PurchaseOut,
    status=201,
    idempotent=True,
    errors=(404, 409, 422),
    summary="Restock: stock rises by quantity, atomically",
)
def create_purchase(call: Call) -> tuple[PurchaseOut, int]:
    result = purchases.create_purchase(call.me, call.body, call.wanted)
    return purchase_out(result.item), 201 if result.created else 200


@api.route(
    "/purchase-orders",
    "GET",
    roles=ADMIN_STAFF,
    query=PageQuery,
    response=Page[PurchaseOut],
    summary="Purchases, newest first",
)
def list_purchases(call: Call) -> dict:
    q = call.query
    return page_out(purchases.list_purchases(q.limit, decode_cursor(q.cursor)), purchase_out)


@api.route(
    "/purchase-orders/{id}",
    "GET",
    roles=ADMIN_STAFF,
    response=PurchaseOut,
    errors=(404,),
    summary="One purchase",
)
def get_purchase(call: Call) -> PurchaseOut:
    return purchase_out(purchases.get_purchase(call.params["id"]))


@api.route(
    "/purchase-orders/{id}",
    "DELETE",
    roles=ADMIN,
    status=204,
    errors=(404, 409),
    summary="Reverse: take the quantity back out of stock",
)
def reverse_purchase(call: Call) -> None:
    purchases.reverse_purchase(call.me.id, call.params["id"])
