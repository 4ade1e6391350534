"""Request and response models of sales orders and purchase orders."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

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
    omittable,
    one_of,
    one_of_two,
    sent_one_of,
)
from chalicelib.vocabulary import HoldStatus, OrderStatus

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


Lines = Annotated[list[OrderLineIn], Field(min_length=1, max_length=25)]
# No example, so the example order is the caller's own: a customer naming another user is a 403,
# a made-up id a 422.
ForCustomer = Field(None, description="admin and staff: for this user")
HoldId = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class SalesOrderIn(Request):
    """`{items, note?, customer_id?}`, or `{hold_id, note?}`: the order of a hold's lines."""

    model_config = one_of_two("items", "hold_id", not_with_second=("customer_id",))

    items: Lines | None = omittable()
    # No example: the example body is the `items` form, and only one of the two may be sent.
    hold_id: (
        Annotated[
            HoldId, Field(description="the hold to make the order of: its lines, its customer")
        ]
        | None
    ) = omittable()
    note: Note | None = None
    customer_id: UserId | None = ForCustomer

    @model_validator(mode="after")
    def _one_form(self) -> SalesOrderIn:
        if sent_one_of(self, "items", "hold_id") == "hold_id" and "customer_id" in (
            self.model_fields_set
        ):
            raise ValueError("an order of a hold is for the hold's customer: no customer_id")
        return self


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


# ---- holds ------------------------------------------------------------------------------------


class HoldIn(Request):
    items: Lines
    ttl_seconds: Annotated[
        StrictInt, Field(ge=5, le=3600, description="how long the units are kept", examples=[900])
    ] = 900
    customer_id: UserId | None = ForCustomer


class HoldQuery(PageQuery):
    customer_id: CustomerFilter | None = None
    status: Annotated[str, one_of(HoldStatus), Field(examples=["active"])] | None = None


class HoldLineOut(Response):
    sku: str
    name: str
    quantity: int


class HoldOut(Response):
    id: str
    status: Annotated[str, one_of(HoldStatus)]
    customer: CustomerOut
    items: list[HoldLineOut]
    expires_at: Timestamp
    created_at: Timestamp
    created_by: str
    order_id: str | None


class ReleasedOut(Response):
    released: int = Field(ge=0, description="expired holds released by this call")


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
