"""Request and response models of sales orders and purchase orders."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field, StrictBool, StrictInt, StrictStr

from chalicelib.schemas import (
    ID_EXAMPLE,
    MAX_STOCK,
    Amount,
    Money,
    PageQuery,
    Request,
    Response,
    Sku,
    Timestamp,
    one_of,
)
from chalicelib.vocabulary import OrderStatus

UserId = Annotated[StrictStr, Field(min_length=1, max_length=64)]
CustomerFilter = Annotated[str, Field(min_length=1, max_length=64, examples=[ID_EXAMPLE])]
Note = Annotated[StrictStr, Field(max_length=1000, examples=["Leave at the back door"])]


def _real_date(value: str) -> str:
    date.fromisoformat(value)  # ValueError (-> 400) for 2024-02-30 and the like
    return value


Day = Annotated[
    StrictStr,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        json_schema_extra={"format": "date"},
        examples=["2024-05-01"],
    ),
    AfterValidator(_real_date),
]


# ---- sales orders -----------------------------------------------------------------------------


class OrderLineIn(Request):
    sku: Sku
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000, examples=[1])]


class SalesOrderIn(Request):
    items: Annotated[list[OrderLineIn], Field(min_length=1, max_length=25)]
    note: Note | None = None
    # No example, so the example order is the caller's own: a customer naming another user is a
    # 403, a made-up id a 422.
    customer_id: UserId | None = Field(
        None, description="admin and staff: record the sale for this user"
    )


class SalesOrderQuery(PageQuery):
    customer_id: CustomerFilter | None = None


class CustomerOut(Response):
    id: str
    email: str
    name: str


class OrderLineOut(Response):
    sku: str
    name: str
    quantity: int
    returned: int
    unit_price: Amount
    line_total: Amount


class SalesOrderOut(Response):
    id: str
    status: Annotated[str, one_of(OrderStatus)]
    customer: CustomerOut
    items: list[OrderLineOut]
    total: Amount
    note: str | None
    created_at: Timestamp
    created_by: str
    hold_id: str | None


class ReturnLineIn(Request):
    sku: Sku
    # No upper bound of its own: more than the line has left is a 409 (return_exceeds_order).
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_STOCK, examples=[1])]
    restock: Annotated[StrictBool, Field(examples=[True])]


class ReturnIn(Request):
    items: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=25)]
    note: Annotated[StrictStr, Field(max_length=500, examples=["Box unopened"])] | None = None


# ---- purchase orders --------------------------------------------------------------------------


class PurchaseIn(Request):
    sku: Sku
    quantity: Annotated[StrictInt, Field(ge=1, le=1_000_000, examples=[20])]
    supplier_name: Annotated[
        StrictStr, Field(min_length=1, max_length=200, examples=["Acme Forge"])
    ]
    purchase_date: Day | None = Field(None, description="YYYY-MM-DD; default: today (UTC)")
    unit_cost: Money | None = None


class PurchaseOut(Response):
    id: str
    sku: str
    product_name: str
    quantity: int
    supplier_name: str
    purchase_date: str
    unit_cost: Amount | None
    created_at: Timestamp
    created_by: str
