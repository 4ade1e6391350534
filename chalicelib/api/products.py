"""Routes: /products."""

from __future__ import annotations

from chalicelib.api.pagination import decode_cursor, page_out
from chalicelib.api.routing import ADMIN, ADMIN_STAFF, ANY_ROLE, Call, Resource, sent_fields
from chalicelib.inventory import products
from chalicelib.schemas import (
    MovementOut,
    Page,
    PageQuery,
    ProductIn,
    ProductOut,
    ProductPatchIn,
    ProductReplaceIn,
)
from chalicelib.store.models import Movement, Product

api = Resource("products")


def product_out(p: Product) -> ProductOut:
    return ProductOut(
        sku=p.sku,
        name=p.name,
        description=p.description,
        price=p.price,
        stock=int(p.stock),
        low_stock_threshold=int(p.low_stock_threshold),
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def movement_out(m: Movement) -> MovementOut:
    return MovementOut(
        at=m.at, kind=m.kind, quantity_change=int(m.quantity_change), reference=m.reference
    )


@api.route(
    "/products",
    "GET",
    roles=ANY_ROLE,
    query=PageQuery,
    response=Page[ProductOut],
    summary="The catalog (in no particular order)",
)
def list_products(call: Call) -> dict:
    page = products.list_products(call.query.limit, decode_cursor(call.query.cursor, "products"))
    return page_out(page, product_out, "products")


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
    return product_out(products.create_product(**call.body.model_dump()))


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
    changes = call.body.model_dump()
    if changes["stock"] is None:
        del changes["stock"]
    return product_out(products.update_product(call.params["sku"], changes))


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
    return product_out(products.update_product(call.params["sku"], sent_fields(call.body)))


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
