"""Routes: /products."""

from __future__ import annotations

from chalicelib.api.pagination import decode_cursor, page_out
from chalicelib.api.routing import ADMIN, ADMIN_STAFF, ANY_ROLE, Call, Resource, sent_fields
from chalicelib.inventory import adjustments, products
from chalicelib.inventory.adjustments import Adjustment
from chalicelib.inventory.catalog import CatalogQuery
from chalicelib.schemas import (
    AdjustmentIn,
    MovementOut,
    Page,
    PageQuery,
    ProductIn,
    ProductOut,
    ProductPatchIn,
    ProductQuery,
    ProductReplaceIn,
)
from chalicelib.store import parts
from chalicelib.store.models import Movement, Product
from chalicelib.vocabulary import AdjustmentReason, CatalogSort, StockFilter

api = Resource("products")


def product_out(p: Product) -> ProductOut:
    return ProductOut(
        sku=p.sku,
        name=p.name,
        description=p.description,
        price=p.price,
        stock=int(p.stock),
        held=int(p.held),
        available=p.available,
        low_stock_threshold=int(p.low_stock_threshold),
        stock_shards=parts.shards_of(p),
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def movement_out(m: Movement) -> MovementOut:
    return MovementOut(
        at=m.at,
        kind=m.kind,
        quantity_change=int(m.quantity_change),
        reference=m.reference,
        actor=m.actor,
        reason=m.reason,
        note=m.note,
    )


@api.route(
    "/products",
    "GET",
    roles=ANY_ROLE,
    query=ProductQuery,
    response=Page[ProductOut],
    summary="The catalog by sku (or ?sort=name), ?q= prefix search, ?stock=low|out",
)
def list_products(call: Call) -> dict:
    q = call.query
    wanted = CatalogQuery(
        CatalogSort(q.sort), q.q, StockFilter(q.stock) if q.stock is not None else None
    )
    page = products.list_products(wanted, q.limit, decode_cursor(q.cursor, wanted.scope))
    return page_out(page, product_out, wanted.scope)


@api.route(
    "/products",
    "POST",
    roles=ADMIN,
    body=ProductIn,
    response=ProductOut,
    status=201,
    errors=(409,),
    summary="Add a product",
)
def create_product(call: Call) -> ProductOut:
    return product_out(products.create_product(call.me.id, **call.body.model_dump()))


@api.route(
    "/products/{sku}",
    "GET",
    roles=ANY_ROLE,
    response=ProductOut,
    errors=(404,),
    summary="One product",
)
def get_product(call: Call) -> ProductOut:
    return product_out(products.get_product(call.params["sku"]))


@api.route(
    "/products/{sku}",
    "PUT",
    roles=ADMIN,
    body=ProductReplaceIn,
    response=ProductOut,
    errors=(404,),
    summary="Replace a product's fields",
)
def replace_product(call: Call) -> ProductOut:
    changes = {k: v for k, v in call.body.model_dump().items() if v is not None}
    return product_out(products.update_product(call.me.id, call.params["sku"], changes))


@api.route(
    "/products/{sku}",
    "PATCH",
    roles=ADMIN,
    body=ProductPatchIn,
    response=ProductOut,
    errors=(404,),
    summary="Change some fields; setting stock records an adjustment",
)
def patch_product(call: Call) -> ProductOut:
    changes = sent_fields(call.body)
    return product_out(products.update_product(call.me.id, call.params["sku"], changes))


@api.route(
    "/products/{sku}",
    "DELETE",
    roles=ADMIN,
    status=204,
    errors=(404,),
    summary="Remove a product (orders keep their own copy)",
)
def delete_product(call: Call) -> None:
    products.delete_product(call.params["sku"])


@api.route(
    "/products/{sku}/movements",
    "GET",
    roles=ADMIN_STAFF,
    query=PageQuery,
    response=Page[MovementOut],
    errors=(404,),
    summary="The stock ledger, newest first",
)
def list_movements(call: Call) -> dict:
    scope = f"movements:{call.params['sku']}"
    page = products.movements(
        call.params["sku"], call.query.limit, decode_cursor(call.query.cursor, scope)
    )
    return page_out(page, movement_out, scope)


@api.route(
    "/products/{sku}/adjustments",
    "POST",
    roles=ADMIN_STAFF,
    body=AdjustmentIn,
    response=ProductOut,
    status=201,
    idempotent=True,
    errors=(404, 409),
    summary="Record a counted or corrected stock level, with a reason",
)
def adjust_stock(call: Call) -> tuple[ProductOut, int]:
    sent = sent_fields(call.body)  # null is not "left out": 400
    adjustment = Adjustment(**{**sent, "reason": AdjustmentReason(sent["reason"])})
    result = adjustments.adjust(call.me.id, call.params["sku"], adjustment, call.wanted)
    return product_out(result.item), 201 if result.created else 200
