"""The sorting of failed stock conditions, as pure rules: made-up cancellation reasons, no moto.

Given the lines of a unit of work (each product as read and the quantity taken or given) and the
reasons DynamoDB gave, `sort_failures` decides: 409 short lines, write again without the episode
writes (StaleAlert), or read again (Contention).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pynamodb.exceptions import CancellationReason, TransactWriteError, UpdateError

from chalicelib.errors import InsufficientStock
from chalicelib.inventory.stock import StaleAlert, StockLine, sort_failures
from chalicelib.store.db import Contention
from chalicelib.store.models import Product
from chalicelib.store.transact import Failures, Slot, condition_failed

FAILED = "ConditionalCheckFailed"


def product(sku: str = "A", stock: int = 10, incarnation: str = "one") -> Product:
    return Product(
        sku=sku,
        name=sku,
        price=Decimal("1.00"),
        stock=stock,
        low_stock_threshold=5,
        headroom=stock - 5,
        alert_shard=0,
        incarnation=incarnation,
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )


def as_stored(item: Product) -> dict[str, Any]:
    """The item as DynamoDB returns it with ALL_OLD."""
    return item.serialize()


def reason(old: Product | None = None) -> CancellationReason:
    return CancellationReason(FAILED, "failed", as_stored(old) if old else None)


def failed_with(slot: Slot, old: Product | None) -> Failures:
    return Failures({slot: reason(old)})


def test_a_take_that_finds_too_little_is_a_short_line() -> None:
    slot = Slot("A")
    lines = [StockLine(slot, product(stock=10), quantity=7)]
    with pytest.raises(InsufficientStock) as raised:
        sort_failures(lines, [], failed_with(slot, product(stock=3)))
    assert raised.value.details == [{"sku": "A", "requested": 7, "available": 3}]


def test_every_short_line_is_named_not_only_the_first() -> None:
    a, b, c = Slot("A"), Slot("B"), Slot("C")
    lines = [
        StockLine(a, product("A"), 5),
        StockLine(b, product("B"), 5),
        StockLine(c, product("C"), 5),
    ]
    failed = Failures({a: reason(product("A", stock=1)), c: reason(product("C", stock=4))})
    with pytest.raises(InsufficientStock) as raised:
        sort_failures(lines, [], failed)
    assert [d["sku"] for d in raised.value.details] == ["A", "C"]


def test_enough_stock_but_a_failed_take_means_only_becomes_low_was_stale() -> None:
    slot = Slot("A")
    lines = [StockLine(slot, product(stock=10), quantity=7, alerting=True)]
    with pytest.raises(StaleAlert):
        sort_failures(lines, [], failed_with(slot, product(stock=20)))


def test_enough_stock_and_no_alert_means_the_threshold_moved_read_again() -> None:
    slot = Slot("A")
    lines = [StockLine(slot, product(stock=10), quantity=7)]
    with pytest.raises(Contention):
        sort_failures(lines, [], failed_with(slot, product(stock=20)))


def test_held_units_are_not_available_to_a_take() -> None:
    slot = Slot("A")
    held = product(stock=10)
    held.held, held.headroom = 8, 10 - 8 - 5
    with pytest.raises(InsufficientStock) as raised:
        sort_failures([StockLine(slot, product(stock=10), 7)], [], failed_with(slot, held))
    assert raised.value.details == [{"sku": "A", "requested": 7, "available": 2}]


def test_a_failed_episode_write_alone_is_stale() -> None:
    episode = Slot("A episode")
    lines = [StockLine(Slot("A"), product(), 7)]
    with pytest.raises(StaleAlert):
        sort_failures(lines, [episode], Failures({episode: reason()}))


def test_short_wins_over_stale() -> None:
    a, b, episode = Slot("A"), Slot("B"), Slot("B episode")
    lines = [StockLine(a, product("A"), 5), StockLine(b, product("B"), 5)]
    failed = Failures(
        {a: reason(product("A", stock=1)), b: reason(product("B", stock=50)), episode: reason()}
    )
    with pytest.raises(InsufficientStock):
        sort_failures(lines, [episode], failed)


@pytest.mark.parametrize(
    "old",
    [None, product(incarnation="two")],
    ids=["deleted since the read", "re-created since the read"],
)
def test_a_product_gone_or_recreated_since_the_read_is_read_again(old: Product | None) -> None:
    slot = Slot("A")
    lines = [StockLine(slot, product(), 5)]
    with pytest.raises(Contention):
        sort_failures(lines, [], failed_with(slot, old))


def test_a_gone_product_that_is_back_is_read_again() -> None:
    slot = Slot("A gone")
    with pytest.raises(Contention):
        sort_failures([StockLine(slot, None, 0)], [], failed_with(slot, product()))


def test_a_failed_give_or_release_of_the_same_incarnation_is_read_again_not_short() -> None:
    slot = Slot("A")
    lines = [StockLine(slot, product(stock=0), quantity=0)]  # given back, or held units let go
    with pytest.raises(Contention):
        sort_failures(lines, [], failed_with(slot, product(stock=0)))


def test_failures_of_other_slots_are_not_this_sides_business() -> None:
    mine, other = Slot("A"), Slot("order")
    sort_failures([StockLine(mine, product(), 5)], [], Failures({other: reason()}))


def test_failures_give_back_the_old_item() -> None:
    slot = Slot("A")
    failures = failed_with(slot, product(stock=3))
    old = failures.old(slot, Product)
    assert old is not None and old.stock == 3
    assert slot in failures and Slot("A") not in failures  # slots compare by identity


def _transact_error(*codes: str | None) -> TransactWriteError:
    from pynamodb.exceptions import VerboseClientError

    reasons = [CancellationReason(code) if code else None for code in codes]
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=reasons,
    )
    return TransactWriteError("cancelled", cause)


def _update_error(code: str) -> UpdateError:
    from botocore.exceptions import ClientError

    return UpdateError("failed", ClientError({"Error": {"Code": code}}, "UpdateItem"))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_transact_error(None, FAILED), True),
        (_transact_error("TransactionConflict", None), False),
        (_update_error("ConditionalCheckFailedException"), True),
        (_update_error("ValidationException"), False),
        (ValueError("ConditionalCheckFailed"), False),
    ],
    ids=["transaction", "conflict", "single write", "other error", "not a write"],
)
def test_condition_failed_recognises_every_error_type(exc: Exception, expected: bool) -> None:
    assert condition_failed(exc) is expected
