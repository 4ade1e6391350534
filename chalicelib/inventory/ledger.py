"""The stock ledger: every stock change writes one movement in the same unit of work, with who
made it and why."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib import clock
from chalicelib.store.models import Movement, Product
from chalicelib.store.pages import Page, newest_first
from chalicelib.store.transact import UnitOfWork
from chalicelib.vocabulary import MovementKind


@dataclass(frozen=True)
class Cause:
    """Who made a stock change (the user whose request it was) and, for adjustments and
    returns, why."""

    actor: str | None
    reason: str | None = None
    note: str | None = None


def ledger_key(sku: str, incarnation: str) -> str:
    return f"{sku}#{incarnation}"


def add_movement(
    uow: UnitOfWork,
    sku: str,
    incarnation: str,
    kind: MovementKind,
    change: int,
    reference: str | None,
    cause: Cause,
    movement_id: str | None = None,
) -> Movement:
    movement = Movement(
        ledger=ledger_key(sku, incarnation),
        id=movement_id or clock.new_id(),
        at=clock.iso(),
        kind=str(MovementKind(kind)),  # a known kind, stored as its word
        quantity_change=change,
        reference=reference,
        actor=cause.actor,
        reason=cause.reason,
        note=cause.note,
    )
    uow.put(movement, condition=Movement.id.does_not_exist(), name="movement")
    return movement


def movements(product: Product, limit: int, after: str | None) -> Page[Movement]:
    return newest_first(
        [(Movement, ledger_key(product.sku, product.incarnation))], Movement.id, limit, after
    )
