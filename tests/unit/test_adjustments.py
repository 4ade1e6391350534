"""POST /products/{sku}/adjustments (API.md, Adjustments) and the audit fields of movements."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.inventory import adjustments
from chalicelib.store import transact
from chalicelib.store.models import Notification
from tests.unit.helpers import add_product, assert_ledger, movements, order, stock

PATH = "/products/A/adjustments"


def adjust(api: Any, token: str, body: dict, key: str | None = None, sku: str = "A") -> Any:
    headers = {"Idempotency-Key": key} if key else None
    return api.call("POST", f"/products/{sku}/adjustments", body, token, headers=headers)


def me(api: Any, token: str) -> str:
    return api.call("GET", "/auth/me", token=token).json["id"]


def test_a_change_records_its_reason_note_and_actor(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    reply = adjust(api, tokens["staff"], {"change": -3, "reason": "damaged", "note": "dropped"})
    assert reply.status == 201 and reply.json["sku"] == "A"
    assert (reply.json["stock"], reply.json["available"], reply.json["held"]) == (7, 7, 0)
    assert stock("A") == 7
    latest = api.call("GET", "/products/A/movements", token=tokens["staff"]).json["items"][0]
    assert latest["kind"] == "adjustment" and latest["quantity_change"] == -3
    assert (latest["reason"], latest["note"], latest["reference"]) == ("damaged", "dropped", None)
    assert latest["actor"] == me(api, tokens["staff"])
    assert_ledger("A")


def test_set_to_records_the_difference_and_a_count_in_place_records_0(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    assert adjust(api, tokens["admin"], {"set_to": 14, "reason": "count"}).json["stock"] == 14
    assert adjust(api, tokens["admin"], {"set_to": 14, "reason": "count"}).status == 201
    assert [int(m.quantity_change) for m in movements("A")][-3:] == [10, 4, 0]
    assert_ledger("A")


@pytest.mark.parametrize("reason", ["count", "damaged", "lost", "found", "correction", "other"])
def test_every_reason_is_taken(api, tokens, reason):
    add_product(api, tokens["admin"], "A", stock=10)
    assert adjust(api, tokens["staff"], {"change": 1, "reason": reason}).status == 201


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "count"},  # neither
        {"change": 1, "set_to": 3, "reason": "count"},  # both
        {"change": 0, "reason": "count"},
        {"set_to": -1, "reason": "count"},
        {"set_to": 1_000_000_001, "reason": "count"},
        {"change": 1},
        {"change": 1, "reason": "theft"},
        {"change": 1, "reason": "count", "note": "x" * 501},
        {"change": "1", "reason": "count"},
        {"change": 1.0, "reason": "count"},
        {"change": 1, "reason": "count", "expected_stock": -1},
        {"change": 1, "reason": "count", "actor": "someone"},
        {"change": None, "set_to": 2, "reason": "count", "note": None, "extra": 1},
    ],
)
def test_bad_bodies_are_400_and_change_nothing(api, tokens, body):
    add_product(api, tokens["admin"], "A", stock=10)
    reply = adjust(api, tokens["admin"], body)
    assert reply.status == 400 and reply.json["code"] == "validation_error", reply.json
    assert stock("A") == 10 and len(movements("A")) == 1


def test_a_stale_expected_stock_is_409_with_the_actual_stock(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    reply = adjust(api, tokens["staff"], {"set_to": 4, "expected_stock": 9, "reason": "count"})
    assert reply.status == 409 and reply.json["code"] == "stock_changed"
    assert reply.json["details"] == [{"sku": "A", "expected": 9, "actual": 10}]
    assert stock("A") == 10 and len(movements("A")) == 1
    ok = adjust(api, tokens["staff"], {"set_to": 4, "expected_stock": 10, "reason": "count"})
    assert ok.status == 201 and ok.json["stock"] == 4


def test_stock_never_goes_below_zero(api, tokens):
    add_product(api, tokens["admin"], "A", stock=2)
    reply = adjust(api, tokens["staff"], {"change": -3, "reason": "lost"})
    assert reply.status == 409 and reply.json["code"] == "insufficient_stock"
    assert reply.json["details"] == [{"sku": "A", "requested": 3, "available": 2}]
    assert stock("A") == 2 and len(movements("A")) == 1
    assert adjust(api, tokens["staff"], {"change": -2, "reason": "lost"}).json["stock"] == 0


def test_roles_and_unknown_products(api, tokens):
    add_product(api, tokens["admin"], "A", stock=2)
    body = {"change": 1, "reason": "found"}
    assert adjust(api, tokens["customer"], body).status == 403
    missing = adjust(api, tokens["admin"], body, sku="NOPE")
    assert missing.status == 404 and missing.json["code"] == "not_found"
    assert stock("A") == 2


def test_a_replay_answers_200_and_moves_stock_once(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    body = {"change": 5, "reason": "found"}
    first = adjust(api, tokens["staff"], body, key="adj-1")
    again = adjust(api, tokens["staff"], body, key="adj-1")
    assert (first.status, again.status) == (201, 200)
    assert first.json["stock"] == again.json["stock"] == 15 and stock("A") == 15
    other = adjust(api, tokens["staff"], {"change": 6, "reason": "found"}, key="adj-1")
    assert other.status == 409 and other.json["code"] == "idempotency_key_reused"
    # Keys of another caller, and the same key on another product, are other requests.
    assert adjust(api, tokens["admin"], body, key="adj-1").status == 201
    add_product(api, tokens["admin"], "B", stock=1)
    assert adjust(api, tokens["staff"], body, key="adj-1", sku="B").status == 201
    assert stock("A") == 20 and stock("B") == 6
    assert_ledger("A", "B")


def test_an_adjustment_opens_and_ends_a_low_stock_episode(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10, threshold=5)
    assert adjust(api, tokens["staff"], {"set_to": 2, "reason": "count"}).status == 201
    [opened] = list(Notification.scan())
    assert opened.status == "open" and opened.sku == "A"
    assert adjust(api, tokens["staff"], {"change": 10, "reason": "found"}).status == 201
    assert Notification.get(opened.id).status == "resolved"


def test_a_sale_between_the_read_and_the_write_wins(api, tokens, monkeypatch):
    """The count read 10, a sale took 3, then the count's write: it must not overwrite the
    sale. With expected_stock it is 409 and nothing moves; without, it applies to the new stock."""
    add_product(api, tokens["admin"], "A", stock=10)
    real_read = transact.read_batch
    sales_left, units = [1], [3]

    def read_then_sell(*args: Any, **kwargs: Any) -> Any:
        reads = real_read(*args, **kwargs)
        if sales_left[0]:
            sales_left[0] -= 1
            assert order(api, tokens["customer"], [("A", units[0])]).status == 201
        return reads

    monkeypatch.setattr(adjustments, "read_batch", read_then_sell)
    stale = adjust(api, tokens["staff"], {"set_to": 10, "expected_stock": 10, "reason": "count"})
    assert stale.status == 409 and stale.json["code"] == "stock_changed"
    assert stale.json["details"] == [{"sku": "A", "expected": 10, "actual": 7}]
    assert stock("A") == 7 and [m.kind for m in movements("A")] == ["initial", "sale"]

    sales_left[0] = 1  # a relative change is an ADD: it applies to the stock it meets
    reply = adjust(api, tokens["staff"], {"change": -2, "reason": "damaged"})
    assert reply.status == 201 and stock("A") == 2  # 10 - 3 - 3 - 2

    sales_left[0], units[0] = 1, 1  # a count read 2, a sale took 1: the count is read again
    reply = adjust(api, tokens["staff"], {"set_to": 6, "reason": "count"})
    assert reply.status == 201 and reply.json["stock"] == 6 and stock("A") == 6
    ledger_ = movements("A")
    assert [m.kind for m in ledger_][-3:] == ["adjustment", "sale", "adjustment"]
    assert int(ledger_[-1].quantity_change) == 6 - 1  # counted from the stock after the sale
    assert [m.at for m in ledger_] == sorted(m.at for m in ledger_)  # ids follow time
    assert_ledger("A")


def test_a_change_may_not_pass_the_stock_limit(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    reply = adjust(api, tokens["staff"], {"change": 1_000_000_000, "reason": "found"})
    assert reply.status == 400 and reply.json["code"] == "validation_error"
    assert stock("A") == 10


def test_a_relative_change_racing_sales_loses_nothing(api, tokens, atomic_moto):
    from chalicelib.inventory import idempotency, sales
    from chalicelib.inventory.adjustments import Adjustment
    from chalicelib.schemas.orders import SalesOrderIn
    from chalicelib.vocabulary import AdjustmentReason, Caller, Role
    from tests.unit.helpers import run_together

    add_product(api, tokens["admin"], "A", stock=30)
    buyer = Caller(me(api, tokens["customer"]), Role.CUSTOMER)
    one = SalesOrderIn.model_validate({"items": [{"sku": "A", "quantity": 1}]})

    def sell() -> Any:
        return sales.create_order(buyer, one, idempotency.NO_KEY)

    def found() -> Any:
        lost = Adjustment(AdjustmentReason.FOUND, change=2)
        return adjustments.adjust("staff-user", "A", lost, idempotency.NO_KEY)

    run_together(*([sell] * 6 + [found] * 6))
    assert stock("A") == 30 - 6 + 12
    assert_ledger("A")


def test_movements_written_before_the_audit_fields_read_null(api, tokens):
    from chalicelib import clock
    from chalicelib.inventory.ledger import ledger_key
    from chalicelib.store.models import Movement, Product

    add_product(api, tokens["admin"], "A", stock=0)
    product = Product.get("A")
    old = Movement(  # as the code before the audit fields wrote it
        ledger=ledger_key("A", product.incarnation),
        id=clock.new_id(),
        at=clock.iso(),
        kind="purchase",
        quantity_change=0,
        reference="01J9ZQ4W8X6KDM3T5VBN7R2C0E",
    )
    old.save()
    latest = api.call("GET", "/products/A/movements", token=tokens["admin"]).json["items"][0]
    assert latest["reference"] == old.reference
    assert (latest["actor"], latest["reason"], latest["note"]) == (None, None, None)
