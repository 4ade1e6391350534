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


def ledger_key(sku: str, incarnation: str, part: int = 0) -> str:
    """The ledger of a product's part: part 0's is the product's own; part k's movements go to
    their own partition, so a sku's sales spread as its stock does."""
    return f"{sku}#{incarnation}" + (f"#{part}" if part else "")


def ledgers(product: Product) -> list[str]:
    """Every ledger a product's movements are in (the most parts it ever had)."""
    return [
        ledger_key(product.sku, product.incarnation, part)
        for part in range(int(product.ledger_parts or 1))
    ]


def add_movement(
    uow: UnitOfWork,
    sku: str,
    incarnation: str,
    kind: MovementKind,
    change: int,
    reference: str | None,
    cause: Cause,
    movement_id: str | None = None,
    part: int = 0,
) -> Movement:
    movement = Movement(
        ledger=ledger_key(sku, incarnation, part),
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
    sources = [(Movement, key) for key in ledgers(product)]
    return newest_first(sources, Movement.id, limit, after)
