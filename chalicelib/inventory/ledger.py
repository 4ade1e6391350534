"""The stock ledger: every stock change writes one movement in the same unit of work."""

from __future__ import annotations

from chalicelib import clock
from chalicelib.store.models import Movement, Product
from chalicelib.store.pages import Page, newest_first
from chalicelib.store.transact import UnitOfWork
from chalicelib.vocabulary import MovementKind


def ledger_key(sku: str, incarnation: str) -> str:
    return f"{sku}#{incarnation}"


def add_movement(
    uow: UnitOfWork,
    sku: str,
    incarnation: str,
    kind: MovementKind,
    change: int,
    reference: str | None,
) -> Movement:
    movement = Movement(
        ledger=ledger_key(sku, incarnation),
        id=clock.new_id(),
        at=clock.iso(),
        kind=str(MovementKind(kind)),  # a known kind, stored as its word
        quantity_change=change,
        reference=reference,
    )
    uow.put(movement, condition=Movement.id.does_not_exist(), name="movement")
    return movement


def movements(product: Product, limit: int, after: str | None) -> Page[Movement]:
    return newest_first(
        [(Movement, ledger_key(product.sku, product.incarnation))], Movement.id, limit, after
    )
