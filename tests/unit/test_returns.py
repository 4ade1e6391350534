"""POST /sales-orders/{id}/returns (API.md, Returns), and cancellations after a return."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.inventory import returns, sales
from chalicelib.inventory.idempotency import intent
from chalicelib.schemas.orders import ReturnIn
from chalicelib.store.models import Notification
from chalicelib.vocabulary import Caller, Role
from tests.unit.helpers import add_product, assert_ledger, movements, order, run_together, stock


def sell(api: Any, tokens: dict, items: list[tuple[str, int]]) -> dict:
    reply = order(api, tokens["customer"], items)
    assert reply.status == 201, reply.json
    return reply.json


def give_back(
    api: Any, token: str, order_id: str, lines: list[tuple[str, int, bool]], **extra: Any
) -> Any:
    headers = {"Idempotency-Key": extra.pop("key")} if "key" in extra else None
    body = {"items": [{"sku": s, "quantity": q, "restock": r} for s, q, r in lines], **extra}
    return api.call("POST", f"/sales-orders/{order_id}/returns", body, token, headers=headers)


def test_a_restock_and_a_write_off_in_one_return(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    add_product(api, tokens["admin"], "B", stock=10)
    sold = sell(api, tokens, [("A", 4), ("B", 3)])
    assert sold["status"] == "placed" and [i["returned"] for i in sold["items"]] == [0, 0]
    assert sold["hold_id"] is None
    reply = give_back(
        api, tokens["staff"], sold["id"], [("A", 2, True), ("B", 1, False)], note="scratched"
    )
    assert reply.status == 201, reply.json
    assert reply.json["status"] == "partially_returned"
    assert [(i["sku"], i["returned"]) for i in reply.json["items"]] == [("A", 2), ("B", 1)]
    assert (stock("A"), stock("B")) == (8, 7)
    staff = api.call("GET", "/auth/me", token=tokens["staff"]).json["id"]
    back = movements("A")[-1], movements("B")[-1]
    assert [(m.kind, int(m.quantity_change)) for m in back] == [
        ("return_restocked", 2),
        ("return_written_off", 0),
    ]
    assert {(m.reference, m.actor, m.reason, m.note) for m in back} == {
        (sold["id"], staff, "return", "scratched")
    }
    assert api.call("GET", f"/sales-orders/{sold['id']}", token=tokens["customer"]).json == (
        reply.json
    )
    assert_ledger("A", "B")


def test_returning_every_unit_makes_the_order_returned(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    sold = sell(api, tokens, [("A", 3)])
    assert give_back(api, tokens["admin"], sold["id"], [("A", 1, True)]).status == 201
    reply = give_back(api, tokens["admin"], sold["id"], [("A", 2, False)])
    assert reply.json["status"] == "returned" and reply.json["items"][0]["returned"] == 3
    more = give_back(api, tokens["admin"], sold["id"], [("A", 1, True)])
    assert more.status == 409 and more.json["code"] == "return_exceeds_order"
    assert more.json["details"] == [{"sku": "A", "ordered": 3, "returned": 3, "requested": 1}]
    assert stock("A") == 8
    assert_ledger("A")


def test_refusals_change_nothing(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    add_product(api, tokens["admin"], "B", stock=10)
    sold = sell(api, tokens, [("A", 2)])
    staff = tokens["staff"]
    too_many = give_back(api, staff, sold["id"], [("A", 3, True)])
    assert too_many.status == 409 and too_many.json["code"] == "return_exceeds_order"
    not_on_it = give_back(api, staff, sold["id"], [("A", 1, True), ("B", 1, True)])
    assert not_on_it.status == 422 and not_on_it.json["code"] == "unknown_sku"
    twice = give_back(api, staff, sold["id"], [("A", 1, True), ("A", 1, True)])
    assert twice.status == 400 and twice.json["code"] == "duplicate_sku"
    assert give_back(api, tokens["customer"], sold["id"], [("A", 1, True)]).status == 403
    missing = give_back(api, staff, "01J9ZQ4W8X6KDM3T5VBN7R2C0E", [("A", 1, True)])
    assert missing.status == 404
    for body in (
        {"items": []},
        {"items": [{"sku": f"S{i}", "quantity": 1, "restock": True} for i in range(26)]},
        {"items": [{"sku": "A", "quantity": 0, "restock": True}]},
        {"items": [{"sku": "A", "quantity": 1}]},
        {"items": [{"sku": "A", "quantity": 1, "restock": "yes"}]},
        {"items": [{"sku": "A", "quantity": 1, "restock": True}], "note": "x" * 501},
    ):
        reply = api.call("POST", f"/sales-orders/{sold['id']}/returns", body, staff)
        assert reply.status == 400, body
    assert (stock("A"), stock("B")) == (8, 10)
    assert api.call("GET", f"/sales-orders/{sold['id']}", token=staff).status in (200, 404)
    assert sales.get_order(Caller("x", Role.ADMIN), sold["id"]).items[0].returned is None


def test_a_cancelled_order_takes_no_return(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    sold = sell(api, tokens, [("A", 2)])
    assert api.call("DELETE", f"/sales-orders/{sold['id']}", token=tokens["admin"]).status == 204
    assert give_back(api, tokens["staff"], sold["id"], [("A", 1, True)]).status == 404
    assert stock("A") == 10


def test_a_cancellation_after_a_return_gives_back_only_the_rest(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    add_product(api, tokens["admin"], "B", stock=10)
    sold = sell(api, tokens, [("A", 5), ("B", 2)])
    give_back(api, tokens["staff"], sold["id"], [("A", 2, True), ("B", 2, False)])
    assert api.call("DELETE", f"/sales-orders/{sold['id']}", token=tokens["admin"]).status == 204
    assert (stock("A"), stock("B")) == (10, 8)  # B's two units were written off
    assert [int(m.quantity_change) for m in movements("A")] == [10, -5, 2, 3]
    assert [m.kind for m in movements("B")] == [
        "initial",
        "sale",
        "return_written_off",
    ]  # nothing left of B to give back
    assert_ledger("A", "B")


def test_a_restock_ends_the_low_stock_episode(api, tokens):
    add_product(api, tokens["admin"], "A", stock=6, threshold=5)
    sold = sell(api, tokens, [("A", 4)])
    [episode] = list(Notification.scan())
    assert episode.status == "open"
    assert give_back(api, tokens["staff"], sold["id"], [("A", 1, False)]).status == 201
    assert Notification.get(episode.id).status == "open"  # a write-off restocks nothing
    assert give_back(api, tokens["staff"], sold["id"], [("A", 3, True)]).status == 201
    assert Notification.get(episode.id).status == "resolved"


def test_a_replay_answers_200_and_returns_once(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    first_order = sell(api, tokens, [("A", 4)])
    second_order = sell(api, tokens, [("A", 4)])
    lines = [("A", 1, True)]
    first = give_back(api, tokens["staff"], first_order["id"], lines, key="ret-1")
    again = give_back(api, tokens["staff"], first_order["id"], lines, key="ret-1")
    assert (first.status, again.status) == (201, 200)
    assert again.json == first.json and again.json["items"][0]["returned"] == 1
    other = give_back(api, tokens["staff"], first_order["id"], [("A", 2, True)], key="ret-1")
    assert other.status == 409 and other.json["code"] == "idempotency_key_reused"
    # The same key on another order is another request.
    assert give_back(api, tokens["staff"], second_order["id"], lines, key="ret-1").status == 201
    assert stock("A") == 4
    assert_ledger("A")


def test_concurrent_returns_never_return_more_than_was_sold(api, tokens, atomic_moto):
    add_product(api, tokens["admin"], "A", stock=10)
    sold = sell(api, tokens, [("A", 5)])
    staff = Caller("staff-user", Role.STAFF)

    def one_unit(number: int) -> Any:
        body = ReturnIn.model_validate({"items": [{"sku": "A", "quantity": 1, "restock": True}]})
        try:
            return returns.record_return(staff, sold["id"], body, intent(staff.id, "t", None, {}))
        except Exception as exc:  # noqa: BLE001 - counted below
            return exc

    results = run_together(*[lambda n=n: one_unit(n) for n in range(8)])
    made = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(made) == 5, results
    assert {type(r).__name__ for r in refused} <= {"ReturnExceedsOrder", "Busy"}
    assert sum(1 for r in refused if type(r).__name__ == "ReturnExceedsOrder") >= 1
    assert stock("A") == 10
    assert sales.get_order(Caller("x", Role.ADMIN), sold["id"]).items[0].returned == 5
    assert_ledger("A")


@pytest.mark.parametrize("returns_first", [True, False])
def test_returns_racing_a_cancellation_give_back_each_unit_once(
    api, tokens, atomic_moto, returns_first
):
    add_product(api, tokens["admin"], "A", stock=10)
    sold = sell(api, tokens, [("A", 6)])
    staff, admin = Caller("staff-user", Role.STAFF), Caller("admin-user", Role.ADMIN)
    body = ReturnIn.model_validate({"items": [{"sku": "A", "quantity": 2, "restock": True}]})

    def give() -> Any:
        try:
            return returns.record_return(staff, sold["id"], body, intent(staff.id, "t", None, {}))
        except Exception as exc:  # noqa: BLE001 - checked below
            return exc

    def cancel() -> Any:
        try:
            return sales.cancel_order(admin.id, sold["id"])
        except Exception as exc:  # noqa: BLE001 - checked below
            return exc

    jobs = [give, give, cancel] if returns_first else [cancel, give, give]
    results = run_together(*jobs)
    assert not any(type(r).__name__ == "Busy" for r in results), results
    # Cancelled for sure (nothing stops it), so every unit is back, once.
    assert stock("A") == 10
    assert_ledger("A")
    assert sum(int(m.quantity_change) for m in movements("A") if m.kind != "initial") == 0


def test_a_replay_after_the_cancellation_is_404(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    sold = sell(api, tokens, [("A", 3)])
    assert give_back(api, tokens["staff"], sold["id"], [("A", 1, True)], key="r").status == 201
    assert api.call("DELETE", f"/sales-orders/{sold['id']}", token=tokens["admin"]).status == 204
    replay = give_back(api, tokens["staff"], sold["id"], [("A", 1, True)], key="r")
    assert replay.status == 404 and stock("A") == 10


def test_more_than_any_line_has_is_409_not_400(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    sold = sell(api, tokens, [("A", 3)])
    reply = give_back(api, tokens["staff"], sold["id"], [("A", 50_000, True)])
    assert reply.status == 409 and reply.json["code"] == "return_exceeds_order"
    assert reply.json["details"] == [{"sku": "A", "ordered": 3, "returned": 0, "requested": 50_000}]


def test_a_line_whose_product_is_gone_is_counted_and_restocks_nothing(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    add_product(api, tokens["admin"], "B", stock=10)
    sold = sell(api, tokens, [("A", 3), ("B", 2)])
    assert api.call("DELETE", "/products/A", token=tokens["admin"]).status == 204
    assert api.call("DELETE", "/products/B", token=tokens["admin"]).status == 204
    add_product(api, tokens["admin"], "B", stock=1)  # a new B: not the one that was sold
    reply = give_back(api, tokens["staff"], sold["id"], [("A", 3, True), ("B", 2, True)])
    assert reply.status == 201 and reply.json["status"] == "returned"
    assert stock("B") == 1 and [m.kind for m in movements("B")] == ["initial"]
    assert_ledger("B")
