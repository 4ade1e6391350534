"""Routes: /holds."""

from __future__ import annotations

from chalicelib.api.pagination import decode_cursor, page_out
from chalicelib.api.routing import ADMIN, ANY_ROLE, Call, Resource
from chalicelib.inventory import holds
from chalicelib.schemas import Page
from chalicelib.schemas.orders import (
    CustomerOut,
    HoldIn,
    HoldLineOut,
    HoldOut,
    HoldQuery,
    ReleasedOut,
)
from chalicelib.store.models import Hold
from chalicelib.vocabulary import HoldStatus

api = Resource("holds")


def hold_out(hold: Hold) -> HoldOut:
    c = hold.customer
    return HoldOut(
        id=hold.id,
        status=holds.status_of(hold),
        customer=CustomerOut(id=c.id, email=c.email, name=c.name),
        items=[
            HoldLineOut(sku=line.sku, name=line.name, quantity=int(line.quantity))
            for line in hold.items
        ],
        expires_at=hold.expires_at,
        created_at=hold.created_at,
        created_by=hold.created_by,
        order_id=hold.order_id,
    )


@api.route(
    "/holds",
    "POST",
    roles=ANY_ROLE,
    body=HoldIn,
    response=HoldOut,
    status=201,
    idempotent=True,
    errors=(403, 404, 409, 422),
    summary="Keep units for a checkout: all lines or none, until expires_at",
)
def create_hold(call: Call) -> tuple[HoldOut, int]:
    result = holds.create_hold(call.me, call.body, call.wanted)
    return hold_out(result.item), 201 if result.created else 200


@api.route(
    "/holds",
    "GET",
    roles=ANY_ROLE,
    query=HoldQuery,
    response=Page[HoldOut],
    errors=(403,),
    summary="Holds newest first: admin all (?customer_id=, ?status=), others theirs and recorded",
)
def list_holds(call: Call) -> dict:
    q = call.query
    status = HoldStatus(q.status) if q.status is not None else None
    page = holds.list_holds(call.me, q.customer_id, status, q.limit, decode_cursor(q.cursor))
    return page_out(page, hold_out)


@api.route(
    "/holds/{id}",
    "GET",
    roles=ANY_ROLE,
    response=HoldOut,
    errors=(404,),
    summary="One hold (its customer, who recorded it, admin)",
)
def get_hold(call: Call) -> HoldOut:
    return hold_out(holds.get_hold(call.me, call.params["id"]))


@api.route(
    "/holds/{id}",
    "DELETE",
    roles=ANY_ROLE,
    status=204,
    errors=(404, 409),
    summary="Release an active or expired hold: its units are available again",
)
def release_hold(call: Call) -> None:
    holds.release_hold(call.me, call.params["id"])


@api.route(
    "/holds/release-expired",
    "POST",
    roles=ADMIN,
    response=ReleasedOut,
    summary="Release every expired hold now (the schedule does it every minute)",
)
def release_expired(call: Call) -> ReleasedOut:
    return ReleasedOut(released=holds.release_expired())
