"""Pydantic request/response models shared by every resource; they also feed the OpenAPI document.

Request models reject unknown fields and coerce nothing (strict types), except money, which
accepts a JSON string or number and never passes through a binary float (see `api.routing`).

Request fields carry an example the API accepts (`Field(examples=...)`, on the shared type where
there is one; the few without one say why): each request body's example in the document is made
of them (`api.openapi`), and Postman's converter and Swagger UI send it as it is.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    model_validator,
)

from chalicelib.vocabulary import AdjustmentReason, CatalogSort, MovementKind, Role, StockFilter

CENT = Decimal("0.01")
MAX_STOCK = 1_000_000_000
MAX_SHARDS = 64  # stock parts of one product: a resize is one transaction (100 items)
MAX_MONEY = Decimal("1000000000")


# Plain decimal notation only: Decimal() alone would also take "1_000", "+5", "1e3", "NaN".
_MONEY_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")


def _parse_money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal, float)):
        raise ValueError("must be a decimal string or a number")
    if isinstance(value, str) and not _MONEY_TEXT.fullmatch(value.strip()):
        raise ValueError('must be a decimal string such as "19.99"')
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise ValueError("must be a decimal string or a number") from None
    if not amount.is_finite() or amount <= 0 or amount >= MAX_MONEY:
        raise ValueError("must be greater than 0 and less than 1000000000")
    if amount != amount.quantize(CENT, rounding="ROUND_DOWN"):
        raise ValueError("must have at most two decimals")
    return amount.quantize(CENT)


MONEY_EXAMPLE = "19.99"
_AMOUNT_SCHEMA = {"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$", "example": MONEY_EXAMPLE}

Money = Annotated[
    Decimal,
    PlainValidator(_parse_money),
    PlainSerializer(lambda amount: f"{amount:.2f}", return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "oneOf": [
                # Exactly the strings the parser takes: > 0, < 1000000000, at most two decimals.
                {
                    "type": "string",
                    "pattern": r"^\s*(0*[1-9][0-9]{0,8}(\.[0-9]{1,2})?"
                    r"|0+\.(0[1-9]|[1-9][0-9]?))\s*$",
                },
                {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": 999999999.99,
                    "multipleOf": 0.01,
                },
            ],
            "example": MONEY_EXAMPLE,
        },
        mode="validation",
    ),
    WithJsonSchema(_AMOUNT_SCHEMA, mode="serialization"),
]


def _amount(value: Any) -> Decimal:
    if not isinstance(value, Decimal):
        raise ValueError("an amount is a Decimal")
    return value


# Money the server computed (line totals, order totals): no input limits, any size.
Amount = Annotated[
    Decimal,
    PlainValidator(_amount),
    PlainSerializer(lambda amount: f"{amount:.2f}", return_type=str, when_used="json"),
    WithJsonSchema(_AMOUNT_SCHEMA),
]

SKU_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
SKU_EXAMPLE = "ANVIL-1"
ID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"  # every id is a ULID
ID_EXAMPLE = "01J9ZQ4W8X6KDM3T5VBN7R2C0E"  # of nothing: a GET, PATCH or DELETE of it is a 404
Sku = Annotated[
    StrictStr, Field(pattern=SKU_PATTERN, min_length=1, max_length=64, examples=[SKU_EXAMPLE])
]
Timestamp = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")]


def one_of(names: type[StrEnum]) -> Any:
    """A string field that takes one of a named set's words (documented as an enum)."""
    words: list[JsonValue] = [str(name) for name in names]
    pattern = "^(" + "|".join(str(word) for word in words) + ")$"
    return Field(pattern=pattern, json_schema_extra={"enum": words})


RoleName = Annotated[StrictStr, one_of(Role), Field(examples=[Role.STAFF.value])]


def _not_nullable(schema: dict[str, Any]) -> None:
    """The document of an omittable field: its own type, without the null branch and default."""
    options = schema.pop("anyOf", None) or []
    schema.update(next((o for o in options if o.get("type") != "null"), {}))
    schema.pop("default", None)


def omittable() -> Any:
    """A field that may be left out (None: not sent, for model_dump(exclude_unset=True)) but
    whose documented type does not take null: the route rejects an explicit null with 400."""
    return Field(default=None, json_schema_extra=_not_nullable)


def one_of_two(first: str, second: str, not_with_second: tuple[str, ...] = ()) -> ConfigDict:
    """The document of a body that sends exactly one of two fields (and none of
    `not_with_second` with the second), so that a schema-valid body is accepted: "not both, and
    one of them", as allOf (Postman's converter reads through it; a top-level oneOf makes it
    send the first branch instead of the example). The check itself: `sent_one_of`."""
    rules: list[JsonValue] = [
        {"not": {"required": [first, second]}},
        {"anyOf": [{"required": [first]}, {"required": [second]}]},
    ]
    rules += [{"not": {"required": [second, other]}} for other in not_with_second]
    return ConfigDict(json_schema_extra={"allOf": rules})


def sent_one_of(body: BaseModel, first: str, second: str) -> str:
    """Which of the two fields `body` sent; ValueError (a 400) for both, neither, or a null."""
    sent = [name for name in (first, second) if name in body.model_fields_set]
    if len(sent) != 1:
        raise ValueError(f"send exactly one of {first} and {second}")
    if getattr(body, sent[0]) is None:
        raise ValueError(f"{sent[0]} may not be null")
    return sent[0]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class Query(BaseModel):
    """Query strings arrive as text, so these coerce ("20" -> 20) but still reject unknowns."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class PageQuery(Query):
    limit: int = Field(20, ge=1, le=100, examples=[20])
    # No example: a cursor is one the server made (any other is a 400), so none can be written here.
    cursor: str | None = Field(None, min_length=1, max_length=1024)


T = TypeVar("T")


class Page(Response, Generic[T]):
    items: list[T]
    next_cursor: str | None


class ErrorDetail(Response):
    model_config = ConfigDict(extra="allow")
    field: str | None = None
    message: str | None = None


class Error(Response):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class Health(Response):
    status: str


# ---- users and auth -------------------------------------------------------------------------

# One account through the examples: registered, then logged in with the same email and password.
EMAIL_EXAMPLE = "ada@example.com"
PASSWORD_EXAMPLE = "correct-horse-battery"

# format "email" in the document: schema-valid addresses are then ones the server accepts.
Email = Annotated[
    StrictStr,
    Field(
        min_length=3,
        max_length=254,
        json_schema_extra={"format": "email"},
        examples=[EMAIL_EXAMPLE],
    ),
]
Password = Annotated[StrictStr, Field(min_length=8, max_length=128, examples=[PASSWORD_EXAMPLE])]
NewPassword = Annotated[Password, Field(examples=["staple-battery-horse"])]
Name = Annotated[StrictStr, Field(min_length=1, max_length=200, examples=["Ada Lovelace"])]


class RegisterIn(Request):
    email: Email
    password: Password
    name: Name


class CreateUserIn(RegisterIn):
    # Another person than the registration example, so both examples can be sent.
    email: Annotated[Email, Field(examples=["grace@example.com"])]
    name: Annotated[Name, Field(examples=["Grace Hopper"])]
    role: RoleName


# A password as typed to prove who one is (any length a stored one may have had).
GivenPassword = Annotated[
    StrictStr, Field(min_length=1, max_length=128, examples=[PASSWORD_EXAMPLE])
]


class LoginIn(Request):
    email: Annotated[StrictStr, Field(min_length=1, max_length=254, examples=[EMAIL_EXAMPLE])]
    password: GivenPassword


class RefreshIn(Request):
    refresh_token: Annotated[
        StrictStr, Field(min_length=1, max_length=512, examples=["the-refresh-token-of-a-login"])
    ]


class UpdateUserIn(Request):
    # May be left out, not null (as ProductPatchIn).
    name: Name | None = omittable()
    email: Email | None = omittable()
    role: RoleName | None = omittable()
    active: Annotated[StrictBool, Field(examples=[True])] | None = omittable()


class UpdateMeIn(Request):
    name: Name | None = omittable()


class ChangePasswordIn(Request):
    current_password: GivenPassword
    new_password: NewPassword


# Any string: a reset request answers the same for every email, well-formed or not.
AnyEmail = Annotated[StrictStr, Field(examples=[EMAIL_EXAMPLE])]


class ResetRequestIn(Request):
    email: AnyEmail


class ResetConfirmIn(Request):
    email: AnyEmail
    code: Annotated[StrictStr, Field(min_length=1, max_length=64, examples=["7K3M9Q2X"])]
    new_password: NewPassword


class AcceptedOut(Response):
    status: str = "accepted"


class UserQuery(PageQuery):
    role: RoleName | None = None


class UserOut(Response):
    id: str
    email: str
    name: str
    role: str
    active: bool
    created_at: Timestamp


class TokensOut(Response):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int


# ---- products ---------------------------------------------------------------------------------

ProductName = Annotated[StrictStr, Field(min_length=1, max_length=200, examples=["Anvil"])]
Description = Annotated[StrictStr, Field(max_length=2000, examples=["Forged steel, 50 kg"])]
Stock = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK, examples=[10])]
Threshold = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK, examples=[5])]
StockShards = Annotated[
    StrictInt,
    Field(
        ge=1,
        le=MAX_SHARDS,
        examples=[8],
        description="parts the stock is kept in, so one sku takes more orders a second",
    ),
]


class ProductIn(Request):
    sku: Sku
    name: ProductName
    description: Description = ""
    price: Money
    stock: Stock = 0
    low_stock_threshold: Threshold = 5


class ProductReplaceIn(Request):
    name: ProductName
    description: Description = ""
    price: Money
    low_stock_threshold: Threshold = 5
    stock: Stock | None = None
    stock_shards: StockShards | None = Field(
        None, description="left out: unchanged (as stock); 1 merges the parts back"
    )


class ProductPatchIn(Request):
    # Each field may be left out but not null (the route answers 400 to a null).
    name: ProductName | None = omittable()
    description: Description | None = omittable()
    price: Money | None = omittable()
    low_stock_threshold: Threshold | None = omittable()
    stock: Stock | None = omittable()
    stock_shards: StockShards | None = omittable()


class ProductQuery(PageQuery):
    sort: Annotated[str, one_of(CatalogSort), Field(examples=["name"])] = "sku"
    q: Annotated[str, Field(min_length=1, max_length=100, examples=["anv"])] | None = Field(
        None, description="only products whose sku or name starts with this (any case)"
    )
    stock: Annotated[str, one_of(StockFilter), Field(examples=["low"])] | None = Field(
        None, description="low: available below the threshold; out: nothing available"
    )


class ProductOut(Response):
    sku: str
    name: str
    description: str
    price: Amount
    stock: int
    held: int
    available: int
    low_stock_threshold: int
    stock_shards: int
    created_at: Timestamp
    updated_at: Timestamp


class AdjustmentIn(Request):
    model_config = one_of_two("change", "set_to")

    # Each optional field may be left out, not null (as ProductPatchIn). `change` has no
    # example: the body's example is a count (set_to), and only one of the two may be sent.
    change: (
        Annotated[
            StrictInt,
            Field(
                ge=-MAX_STOCK,
                le=MAX_STOCK,
                description="units in (> 0) or out (< 0), not 0",
                json_schema_extra={"not": {"enum": [0]}},
            ),
        ]
        | None
    ) = omittable()
    set_to: Annotated[Stock, Field(examples=[12], description="the counted stock")] | None = (
        omittable()
    )
    expected_stock: (
        Annotated[
            Stock,
            Field(
                examples=[10],
                description="the stock the client saw: 409 stock_changed if it is not that now",
            ),
        ]
        | None
    ) = omittable()
    reason: Annotated[StrictStr, one_of(AdjustmentReason), Field(examples=["count"])]
    note: Annotated[StrictStr, Field(max_length=500, examples=["Shelf B counted"])] | None = (
        omittable()
    )

    @model_validator(mode="after")
    def _one_change(self) -> AdjustmentIn:
        sent_one_of(self, "change", "set_to")
        if self.change == 0:
            raise ValueError("change may not be 0 (send set_to to record a count)")
        return self


class MovementOut(Response):
    at: Timestamp
    kind: Annotated[str, one_of(MovementKind)]
    quantity_change: int
    reference: str | None
    actor: str | None
    reason: str | None
    note: str | None
