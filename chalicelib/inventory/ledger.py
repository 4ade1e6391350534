"""The stock ledger: every stock change writes one movement in the same transaction."""

from __future__ import annotations

from pynamodb.transactions import TransactWrite

from chalicelib import clock
from chalicelib.store.models import Movement, Product
from chalicelib.store.pages import Page, newest_first

KINDS = ("initial", "adjustment", "sale", "sale_cancelled", "purchase", "purchase_reversed")


def ledger_key(sku: str, incarnation: str) -> str:
    return f"{sku}#{incarnation}"


def add_movement(
    txn: TransactWrite, sku: str, incarnation: str, kind: str, change: int, reference: str | None
) -> Movement:
    assert kind in KINDS
    movement = Movement(
        ledger=ledger_key(sku, incarnation),
        id=clock.new_id(),
        at=clock.iso(),
        kind=kind,
        quantity_change=change,
        reference=reference,
    )
    txn.save(movement, condition=Movement.id.does_not_exist())
    return movement


def movements(product: Product, limit: int, after: str | None) -> Page[Movement]:
    return newest_first(
        [(Movement, ledger_key(product.sku, product.incarnation))], Movement.id, limit, after
    )
