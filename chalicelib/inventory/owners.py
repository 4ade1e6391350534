"""Who sees an order or a hold: an admin every one; anyone else those they are the customer of
or recorded (a customer only ever records their own)."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import Forbidden
from chalicelib.vocabulary import Caller, Role


def visible(item: Any, caller: Caller) -> bool:
    """`item` has `customer.id` and `created_by` (an order, a hold)."""
    return caller.is_admin or caller.id in (item.customer.id, item.created_by)


def list_sources(
    caller: Caller,
    customer_id: str | None,
    model: Any,
    every: list[tuple[Any, str]],
) -> list[tuple[Any, str]]:
    """The (index, key) Queries of a newest-first list: `every` for an admin without a customer
    filter, else the `by_customer` (and, for staff, `by_recorder`) indexes of `model`."""
    if caller.is_admin:
        return [(model.by_customer, customer_id)] if customer_id else every
    if customer_id not in (None, caller.id):
        raise Forbidden("Only an admin may list another customer's orders and holds")
    if caller.role == Role.STAFF:
        return [(model.by_customer, caller.id), (model.by_recorder, caller.id)]
    return [(model.by_customer, caller.id)]
