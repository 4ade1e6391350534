"""Holds (API.md, Holds): units kept while a customer checks out, then the order or the release.

Every rule of the section, in process (moto), with time moved by the `frozen` clock: creating,
converting, releasing and expiring holds, who sees which, `held` and `available` on products, low
stock on available, and the rules that keep stock at or above what is held.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from datetime import datetime
from typing import Any

from chalicelib.store.models import Hold, Product
from tests.unit.helpers import (
    HOLDS,
    ORDERS,
    add_product,
    all_items,
    assert_ledger,
    buy,
    convert,
    hold,
    login_as,
    movements,
    order,
    run_together,
    stock,
)

# The contract's hold shape (API.md, Shapes).
HOLD_KEYS = {
    "id",
    "status",
    "customer",
    "items",
    "expires_at",
    "created_at",
    "created_by",
    "order_id",
}


def product(api: Any, token: str, sku: str) -> dict:
    shown = api.call("GET", f"/products/{sku}", token=token).json
    assert shown["available"] == shown["stock"] - shown["held"]
    return shown


def seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def held_by_open_holds(sku: str) -> int:
    """The sum the contract equates with `held`: the lines of active and expired holds."""
    return sum(
        int(line.quantity)
        for h in Hold.scan(consistent_read=True)
        if h.status == "active"
        for line in h.items
        if line.sku == sku
    )


def assert_holds_add_up(*skus: str) -> None:
    for sku in skus:
        item = Product.get(sku, consistent_read=True)
        assert 0 <= item.held <= item.stock, sku
        assert item.held == held_by_open_holds(sku), sku
        assert item.available == item.stock - item.held, sku
    assert_ledger(*skus)


# ---- create -----------------------------------------------------------------------------------


def test_a_hold_keeps_units_without_moving_stock_or_the_ledger(api, tokens, frozen):
    add_product(api, tokens["admin"], "A", stock=10)
    add_product(api, tokens["admin"], "B", stock=3)
    reply = hold(api, tokens["customer"], [("A", 4), ("B", 3)], ttl_seconds=60)
    assert reply.status == 201, reply.json
    body = reply.json
    assert set(body) == HOLD_KEYS
    assert all(set(line) == {"sku", "name", "quantity"} for line in body["items"])
    assert body["status"] == "active" and body["order_id"] is None
    assert [(i["sku"], i["name"], i["quantity"]) for i in body["items"]] == [
        ("A", "Item A", 4),
        ("B", "Item B", 3),
    ]
    me = api.call("GET", "/auth/me", token=tokens["customer"]).json
    assert body["customer"] == {"id": me["id"], "email": me["email"], "name": me["name"]}
    assert body["created_by"] == me["id"]
    assert abs(seconds(body["created_at"]) - frozen.time) < 0.001
    assert round(seconds(body["expires_at"]) - seconds(body["created_at"]), 3) == 60
    a = product(api, tokens["admin"], "A")
    assert (a["stock"], a["held"], a["available"]) == (10, 4, 6)
    assert [m.kind for m in movements("A")] == ["initial"]
    assert_holds_add_up("A", "B")


def test_the_default_ttl_is_900_seconds_and_it_is_bounded(api, tokens, frozen):
    add_product(api, tokens["admin"], "A", stock=10)
    made = hold(api, tokens["customer"], [("A", 1)]).json
    assert round(seconds(made["expires_at"]) - seconds(made["created_at"]), 3) == 900
    for ttl in (4, 3601, "60", None):
        reply = hold(api, tokens["customer"], [("A", 1)], ttl_seconds=ttl)
        assert reply.status == 400 and reply.json["code"] == "validation_error", ttl
    assert product(api, tokens["admin"], "A")["held"] == 1


def test_all_lines_or_none_and_held_units_are_not_available(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    add_product(api, tokens["admin"], "B", stock=2)
    assert hold(api, tokens["customer"], [("A", 8)]).status == 201
    reply = hold(api, tokens["customer"], [("A", 3), ("B", 3)])
    assert reply.status == 409 and reply.json["code"] == "insufficient_stock"
    assert reply.json["details"] == [
        {"sku": "A", "requested": 3, "available": 2},
        {"sku": "B", "requested": 3, "available": 2},
    ]
    assert product(api, tokens["admin"], "A")["held"] == 8
    assert product(api, tokens["admin"], "B")["held"] == 0
    # A plain sale takes only available units: held ones are sold through their hold.
    sale = order(api, tokens["customer"], [("A", 3)])
    assert sale.status == 409
    assert sale.json["details"] == [{"sku": "A", "requested": 3, "available": 2}]
    assert order(api, tokens["customer"], [("A", 2)]).status == 201
    assert_holds_add_up("A", "B")


def test_lines_follow_the_rules_of_orders(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    customer_id = api.call("GET", "/auth/me", token=tokens["customer"]).json["id"]
    staff_id = api.call("GET", "/auth/me", token=tokens["staff"]).json["id"]
    cases = [
        ({"items": [{"sku": "NOPE", "quantity": 1}]}, tokens["customer"], 422, "unknown_sku"),
        (
            {"items": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}]},
            tokens["customer"],
            400,
            "duplicate_sku",
        ),
        ({"items": []}, tokens["customer"], 400, "validation_error"),
        ({"items": [{"sku": "A", "quantity": 10_001}]}, tokens["admin"], 400, "validation_error"),
        ({"items": [{"sku": "A", "quantity": 1}], "price": "1.00"}, tokens["admin"], 400, None),
        (
            {"items": [{"sku": "A", "quantity": 1}], "customer_id": staff_id},
            tokens["customer"],
            403,
            "forbidden",
        ),
        (
            {"items": [{"sku": "A", "quantity": 1}], "customer_id": "01J9ZQ4W8X6KDM3T5VBN7R2C0E"},
            tokens["staff"],
            422,
            "unknown_customer",
        ),
    ]
    for body, token, status, code in cases:
        reply = api.call("POST", HOLDS, body, token)
        assert reply.status == status, (body, reply.json)
        assert code is None or reply.json["code"] == code
    assert product(api, tokens["admin"], "A")["held"] == 0
    for_customer = hold(api, tokens["staff"], [("A", 1)], customer_id=customer_id)
    assert for_customer.status == 201
    assert for_customer.json["customer"]["id"] == customer_id
    assert for_customer.json["created_by"] == staff_id


def test_an_idempotency_key_holds_once(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    key = {"Idempotency-Key": "checkout-1"}
    first = hold(api, tokens["customer"], [("A", 4)], headers=key)
    again = hold(api, tokens["customer"], [("A", 4)], headers=key)
    assert (first.status, again.status) == (201, 200)
    assert again.json["id"] == first.json["id"]
    assert product(api, tokens["admin"], "A")["held"] == 4
    other = hold(api, tokens["customer"], [("A", 5)], headers=key)
    assert other.status == 409 and other.json["code"] == "idempotency_key_reused"
    # Another caller's same key is another hold.
    assert hold(api, tokens["staff"], [("A", 4)], headers=key).json["id"] != first.json["id"]
    # A replay of a released hold: 404.
    assert api.call("DELETE", f"{HOLDS}/{first.json['id']}", token=tokens["customer"]).status == 204
    gone = hold(api, tokens["customer"], [("A", 4)], headers=key)
    assert gone.status == 404 and gone.json["code"] == "not_found"
    assert_holds_add_up("A")


# ---- convert ----------------------------------------------------------------------------------


def test_a_conversion_sells_the_held_units_at_the_prices_of_that_moment(api, tokens):
    add_product(api, tokens["admin"], "A", price="10.00", stock=10)
    add_product(api, tokens["admin"], "B", price="3.00", stock=5)
    customer_id = api.call("GET", "/auth/me", token=tokens["customer"]).json["id"]
    held = hold(api, tokens["staff"], [("A", 4), ("B", 1)], customer_id=customer_id).json
    api.call("PATCH", "/products/A", {"price": "12.50"}, tokens["admin"])
    reply = convert(api, tokens["staff"], held["id"], note="paid")
    assert reply.status == 201, reply.json
    made = reply.json
    assert made["hold_id"] == held["id"] and made["note"] == "paid"
    assert made["customer"]["id"] == customer_id and made["status"] == "placed"
    assert [(i["sku"], i["quantity"], i["unit_price"]) for i in made["items"]] == [
        ("A", 4, "12.50"),
        ("B", 1, "3.00"),
    ]
    assert made["total"] == "53.00"
    a = product(api, tokens["admin"], "A")
    assert (a["stock"], a["held"], a["available"]) == (6, 0, 6)
    assert [(m.kind, m.quantity_change, m.reference) for m in movements("A")][-1] == (
        "sale",
        -4,
        made["id"],
    )
    shown = api.call("GET", f"{HOLDS}/{held['id']}", token=tokens["customer"]).json
    assert (shown["status"], shown["order_id"]) == ("converted", made["id"])
    # The customer sees the order (they are its customer), as for any order.
    got = api.call("GET", f"{ORDERS}/{made['id']}", token=tokens["customer"])
    assert got.status == 200 and got.json["hold_id"] == held["id"]
    again = convert(api, tokens["staff"], held["id"])
    assert again.status == 409 and again.json["code"] == "hold_not_active"
    assert_holds_add_up("A", "B")


def test_cancelling_an_order_of_a_hold_gives_its_stock_back_and_the_hold_stays_converted(
    api, tokens
):
    add_product(api, tokens["admin"], "A", stock=10)
    held = hold(api, tokens["customer"], [("A", 4)]).json
    hold(api, tokens["customer"], [("A", 3)])  # another, still active
    made = convert(api, tokens["customer"], held["id"]).json
    assert api.call("DELETE", f"{ORDERS}/{made['id']}", token=tokens["admin"]).status == 204
    a = product(api, tokens["admin"], "A")
    assert (a["stock"], a["held"], a["available"]) == (10, 3, 7)
    assert [m.kind for m in movements("A")][-2:] == ["sale", "sale_cancelled"]
    shown = api.call("GET", f"{HOLDS}/{held['id']}", token=tokens["customer"]).json
    assert (shown["status"], shown["order_id"]) == ("converted", made["id"])
    assert_holds_add_up("A")


def test_the_two_forms_of_an_order_do_not_mix(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    held = hold(api, tokens["customer"], [("A", 1)]).json
    customer_id = held["customer"]["id"]
    line = [{"sku": "A", "quantity": 1}]
    for body in (
        {"hold_id": held["id"], "items": line},
        {"hold_id": held["id"], "customer_id": customer_id},
        {"hold_id": None},
        {"items": None},
        {"note": "neither"},
        {"hold_id": 7},
    ):
        reply = api.call("POST", ORDERS, body, tokens["admin"])
        assert reply.status == 400, (body, reply.json)
    assert product(api, tokens["admin"], "A")["held"] == 1


def test_a_hold_the_caller_may_not_see_is_404(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    held = hold(api, tokens["customer"], [("A", 1)]).json
    _, stranger = login_as(api, "customer")
    _, other_staff = login_as(api, "staff")
    for token in (stranger, other_staff):
        for reply in (
            convert(api, token, held["id"]),
            api.call("GET", f"{HOLDS}/{held['id']}", token=token),
            api.call("DELETE", f"{HOLDS}/{held['id']}", token=token),
        ):
            assert reply.status == 404 and reply.json["code"] == "not_found"
    assert convert(api, tokens["admin"], "01J9ZQ4W8X6KDM3T5VBN7R2C0E").status == 404
    assert product(api, tokens["admin"], "A")["held"] == 1
    # An admin may convert anyone's: the order is the hold's customer's.
    made = convert(api, tokens["admin"], held["id"]).json
    assert made["customer"]["id"] == held["customer"]["id"]


def test_an_expired_hold_cannot_be_converted_but_can_be_released(api, tokens, frozen):
    add_product(api, tokens["admin"], "A", stock=10)
    held = hold(api, tokens["customer"], [("A", 3)], ttl_seconds=5).json
    frozen.time += 4.999
    assert api.call("GET", f"{HOLDS}/{held['id']}", token=tokens["customer"]).json["status"] == (
        "active"
    )
    frozen.time += 0.001  # from expires_at on
    assert api.call("GET", f"{HOLDS}/{held['id']}", token=tokens["customer"]).json["status"] == (
        "expired"
    )
    reply = convert(api, tokens["customer"], held["id"])
    assert reply.status == 409 and reply.json["code"] == "hold_expired"
    assert product(api, tokens["admin"], "A")["held"] == 3  # until it is released
    assert api.call("DELETE", f"{HOLDS}/{held['id']}", token=tokens["customer"]).status == 204
    a = product(api, tokens["admin"], "A")
    assert (a["stock"], a["held"]) == (10, 0)
    assert_holds_add_up("A")


def test_a_hold_whose_product_was_deleted_converts_to_422_and_releases(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    add_product(api, tokens["admin"], "B", stock=10)
    held = hold(api, tokens["customer"], [("A", 2), ("B", 2)]).json
    assert api.call("DELETE", "/products/A", token=tokens["admin"]).status == 204
    add_product(api, tokens["admin"], "A", stock=10)  # a new product of that sku
    reply = convert(api, tokens["customer"], held["id"])
    assert reply.status == 422 and reply.json["details"] == [{"sku": "A"}]
    assert api.call("GET", f"{HOLDS}/{held['id']}", token=tokens["customer"]).json["status"] == (
        "active"
    )
    assert api.call("DELETE", f"{HOLDS}/{held['id']}", token=tokens["customer"]).status == 204
    assert product(api, tokens["admin"], "A")["held"] == 0  # the new one held nothing
    assert product(api, tokens["admin"], "B")["held"] == 0
    assert_holds_add_up("A", "B")


def test_a_conversion_with_a_key_is_one_order(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    held = hold(api, tokens["customer"], [("A", 2)]).json
    key = {"Idempotency-Key": "pay-1"}
    first = convert(api, tokens["customer"], held["id"], headers=key)
    again = convert(api, tokens["customer"], held["id"], headers=key)
    assert (first.status, again.status) == (201, 200)
    assert again.json["id"] == first.json["id"]
    assert stock("A") == 8
    assert_holds_add_up("A")


def test_two_conversions_at_once_make_one_order(api, tokens, atomic_moto):
    from chalicelib.inventory import holds, idempotency
    from chalicelib.vocabulary import Caller, Role

    add_product(api, tokens["admin"], "A", stock=10)
    customer = api.call("GET", "/auth/me", token=tokens["customer"]).json["id"]
    buyer = Caller(customer, Role.CUSTOMER)
    for _ in range(3):
        held = hold(api, tokens["customer"], [("A", 2)]).json

        def pay(hold_id: str = held["id"]) -> str:
            try:
                return holds.convert_hold(buyer, hold_id, None, idempotency.NO_KEY).item.id
            except Exception as exc:  # noqa: BLE001 - the loser's answer is the point
                return type(exc).__name__

        outcomes = Counter(run_together(pay, pay, pay))
        assert outcomes["HoldNotActive"] == 2 and sum(outcomes.values()) == 3, outcomes
    orders = all_items(api, ORDERS, tokens["admin"], limit=100)
    assert len(orders) == 3 and stock("A") == 4
    assert_holds_add_up("A")


# ---- release and expiry -----------------------------------------------------------------------


def test_a_release_gives_the_units_back_once(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    held = hold(api, tokens["staff"], [("A", 6)]).json
    assert api.call("DELETE", f"{HOLDS}/{held['id']}", token=tokens["staff"]).status == 204
    again = api.call("DELETE", f"{HOLDS}/{held['id']}", token=tokens["staff"])
    assert again.status == 409 and again.json["code"] == "hold_not_active"
    shown = api.call("GET", f"{HOLDS}/{held['id']}", token=tokens["staff"]).json
    assert shown["status"] == "released" and shown["order_id"] is None
    assert convert(api, tokens["staff"], held["id"]).json["code"] == "hold_not_active"
    a = product(api, tokens["admin"], "A")
    assert (a["stock"], a["held"], a["available"]) == (10, 0, 10)
    assert [m.kind for m in movements("A")] == ["initial"]  # stock never moved
    converted = hold(api, tokens["staff"], [("A", 1)]).json
    convert(api, tokens["staff"], converted["id"])
    refused = api.call("DELETE", f"{HOLDS}/{converted['id']}", token=tokens["admin"])
    assert refused.status == 409 and refused.json["code"] == "hold_not_active"
    assert_holds_add_up("A")


def test_the_sweep_releases_expired_holds_only_once(api, tokens, frozen):
    add_product(api, tokens["admin"], "A", stock=20)
    short = [hold(api, tokens["customer"], [("A", 2)], ttl_seconds=5).json for _ in range(3)]
    long = hold(api, tokens["customer"], [("A", 4)], ttl_seconds=60).json
    sweep = "/holds/release-expired"
    assert api.call("POST", sweep, token=tokens["admin"]).json == {"released": 0}
    frozen.time += 5
    for token in (tokens["staff"], tokens["customer"]):
        assert api.call("POST", sweep, token=token).status == 403
    assert product(api, tokens["admin"], "A")["held"] == 10
    assert api.call("POST", sweep, token=tokens["admin"]).json == {"released": 3}
    assert api.call("POST", sweep, token=tokens["admin"]).json == {"released": 0}
    a = product(api, tokens["admin"], "A")
    assert (a["stock"], a["held"]) == (20, 4)
    for h in short:
        shown = api.call("GET", f"{HOLDS}/{h['id']}", token=tokens["customer"]).json
        assert shown["status"] == "released"
    assert api.call("GET", f"{HOLDS}/{long['id']}", token=tokens["customer"]).json["status"] == (
        "active"
    )
    assert_holds_add_up("A")


def test_the_expiry_index_holds_only_active_holds(api, tokens):
    """The sweep's cost grows with the expired holds: ended holds leave its sparse index."""
    add_product(api, tokens["admin"], "A", stock=20)
    ids = [hold(api, tokens["customer"], [("A", 1)]).json["id"] for _ in range(3)]
    convert(api, tokens["customer"], ids[0])
    api.call("DELETE", f"{HOLDS}/{ids[1]}", token=tokens["customer"])
    from chalicelib.settings import get_settings

    indexed = {
        entry.id
        for shard in range(get_settings().hold_shards)
        for entry in Hold.expiring.query(shard)
    }
    assert indexed == {ids[2]}


def test_the_scheduled_function_releases_expired_holds(client, api, tokens, frozen):
    add_product(api, tokens["admin"], "A", stock=5)
    hold(api, tokens["customer"], [("A", 5)], ttl_seconds=5)
    frozen.time += 5
    event = client.events.generate_cw_event(
        source="aws.events",
        detail_type="Scheduled Event",
        detail={},
        resources=["arn:aws:events:us-east-1:123456789012:rule/release_expired_holds"],
    )
    assert client.lambda_.invoke("release_expired_holds", event).payload == {"released": 1}
    assert product(api, tokens["admin"], "A")["available"] == 5


# ---- who sees which ---------------------------------------------------------------------------


def test_lists_show_each_caller_their_holds_newest_first(api, tokens, frozen):
    add_product(api, tokens["admin"], "A", stock=100)
    customer_id = api.call("GET", "/auth/me", token=tokens["customer"]).json["id"]
    own = hold(api, tokens["customer"], [("A", 1)]).json["id"]
    recorded = hold(api, tokens["staff"], [("A", 1)], customer_id=customer_id).json["id"]
    staffs = hold(api, tokens["staff"], [("A", 1)]).json["id"]
    admins = hold(api, tokens["admin"], [("A", 1)]).json["id"]

    def ids(token: str, query: str = "") -> list[str]:
        return [h["id"] for h in all_items(api, HOLDS + query, token, limit=1)]

    assert ids(tokens["customer"]) == [recorded, own]
    assert ids(tokens["staff"]) == [staffs, recorded]
    assert ids(tokens["admin"]) == [admins, staffs, recorded, own]
    assert ids(tokens["admin"], f"?customer_id={customer_id}") == [recorded, own]
    other = api.call("GET", f"{HOLDS}?customer_id={customer_id}", token=tokens["staff"])
    assert other.status == 403
    assert ids(tokens["customer"], f"?customer_id={customer_id}") == [recorded, own]


def test_lists_filter_by_status(api, tokens, frozen):
    add_product(api, tokens["admin"], "A", stock=100)
    customer_id = api.call("GET", "/auth/me", token=tokens["customer"]).json["id"]
    expired = hold(api, tokens["customer"], [("A", 1)], ttl_seconds=5).json["id"]
    converted = hold(api, tokens["customer"], [("A", 1)]).json["id"]
    released = hold(api, tokens["customer"], [("A", 1)]).json["id"]
    active = hold(api, tokens["staff"], [("A", 1)]).json["id"]
    convert(api, tokens["customer"], converted)
    api.call("DELETE", f"{HOLDS}/{released}", token=tokens["customer"])
    frozen.time += 5
    expected = {
        "active": [active],
        "expired": [expired],
        "converted": [converted],
        "released": [released],
    }
    for status, wanted in expected.items():
        found = all_items(api, f"{HOLDS}?status={status}", tokens["admin"], limit=1)
        assert [h["id"] for h in found] == wanted, status
        assert {h["status"] for h in found} == {status}
        mine = all_items(
            api, f"{HOLDS}?status={status}&customer_id={customer_id}", tokens["admin"], limit=1
        )
        assert [h["id"] for h in mine] == [i for i in wanted if i != active], status
    assert [h["id"] for h in all_items(api, f"{HOLDS}?status=active", tokens["staff"])] == [active]
    assert api.call("GET", f"{HOLDS}?status=gone", token=tokens["admin"]).status == 400


# ---- low stock on available -------------------------------------------------------------------


def notifications(api: Any, token: str) -> list[dict]:
    return all_items(api, "/notifications", token, limit=100)


def test_a_hold_opens_an_episode_and_its_release_ends_it(api, tokens, frozen):
    add_product(api, tokens["admin"], "A", stock=10, threshold=5)
    expiring = hold(api, tokens["customer"], [("A", 3)], ttl_seconds=5).json
    assert notifications(api, tokens["admin"]) == []  # 7 available: not low
    hold(api, tokens["customer"], [("A", 3)])
    [opened] = notifications(api, tokens["admin"])
    assert (opened["sku"], opened["stock"], opened["status"]) == ("A", 4, "open")
    assert [p["sku"] for p in all_items(api, "/products?stock=low", tokens["admin"])] == ["A"]
    hold(api, tokens["customer"], [("A", 1)])  # still low: no second notification
    assert len(notifications(api, tokens["admin"])) == 1
    frozen.time += 5
    assert api.call("POST", "/holds/release-expired", token=tokens["admin"]).json == {"released": 1}
    [resolved] = notifications(api, tokens["admin"])  # 6 available again
    assert resolved["status"] == "resolved"
    assert all_items(api, "/products?stock=low", tokens["admin"]) == []
    # The next episode, ended by a DELETE.
    again = hold(api, tokens["customer"], [("A", 2)]).json
    assert [n["status"] for n in notifications(api, tokens["admin"])] == ["open", "resolved"]
    assert api.call("DELETE", f"{HOLDS}/{again['id']}", token=tokens["customer"]).status == 204
    assert [n["status"] for n in notifications(api, tokens["admin"])] == ["resolved"] * 2
    assert expiring["id"] != again["id"]


def test_the_low_stock_email_lists_the_units_available(api, tokens, admin):
    from tests.unit.helpers import sent

    add_product(api, tokens["admin"], "A", stock=10, threshold=5)
    hold(api, tokens["customer"], [("A", 7)])
    checked = api.call("POST", "/notifications/check", token=tokens["admin"]).json
    assert checked == {"low_stock": 1, "created": 0, "emailed": 1}
    [email] = sent()
    # Available 3 (stock 10, 7 held): the figure compared with the threshold.
    assert "<td>A</td><td>Item A</td><td>3</td><td>5</td><td>open</td>" in email.body


def test_a_conversion_does_not_change_the_episode(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10, threshold=5)
    held = hold(api, tokens["customer"], [("A", 10)]).json
    assert [p["sku"] for p in all_items(api, "/products?stock=out", tokens["admin"])] == ["A"]
    convert(api, tokens["customer"], held["id"])
    [opened] = notifications(api, tokens["admin"])
    assert opened["status"] == "open"  # available was 0 and still is
    assert [p["sku"] for p in all_items(api, "/products?stock=out", tokens["admin"])] == ["A"]


def test_a_new_threshold_is_measured_against_available(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10, threshold=0)
    hold(api, tokens["customer"], [("A", 7)])
    reply = api.call("PATCH", "/products/A", {"low_stock_threshold": 4}, tokens["admin"])
    assert reply.status == 200 and reply.json["available"] == 3
    [opened] = notifications(api, tokens["admin"])
    assert opened["stock"] == 3 and opened["threshold"] == 4
    api.call("PATCH", "/products/A", {"low_stock_threshold": 3}, tokens["admin"])
    assert notifications(api, tokens["admin"])[0]["status"] == "resolved"
    assert_holds_add_up("A")


# ---- stock may not go below held --------------------------------------------------------------


def test_adjustments_and_reversals_may_not_go_below_held(api, tokens):
    add_product(api, tokens["admin"], "A", stock=0)
    purchase = buy(api, tokens["staff"], "A", 10).json
    hold(api, tokens["customer"], [("A", 6)])
    adjust = "/products/A/adjustments"
    for body in (
        {"set_to": 5, "reason": "count"},
        {"change": -5, "reason": "lost"},
    ):
        reply = api.call("POST", adjust, body, tokens["staff"])
        assert reply.status == 409 and reply.json["code"] == "insufficient_stock", body
        assert reply.json["details"] == [{"sku": "A", "requested": 5, "available": 4}]
    patch = api.call("PATCH", "/products/A", {"stock": 5}, tokens["admin"])
    assert patch.status == 409 and patch.json["code"] == "insufficient_stock"
    reversal = api.call("DELETE", f"/purchase-orders/{purchase['id']}", token=tokens["admin"])
    assert reversal.status == 409 and reversal.json["code"] == "insufficient_stock"
    assert stock("A") == 10
    counted = api.call("POST", adjust, {"set_to": 6, "reason": "count"}, tokens["staff"])
    assert counted.status == 201
    assert (counted.json["stock"], counted.json["held"], counted.json["available"]) == (6, 6, 0)
    assert_holds_add_up("A")


# ---- under concurrency ------------------------------------------------------------------------


def test_holds_conversions_releases_expiries_and_sales_at_once_keep_every_invariant(
    api, tokens, atomic_moto, frozen
):
    """Threads mix every operation on one product with little stock; then every count adds up."""
    from chalicelib.errors import AppError
    from chalicelib.inventory import holds, idempotency, sales
    from chalicelib.schemas.orders import HoldIn, SalesOrderIn
    from chalicelib.vocabulary import Caller, Role

    add_product(api, tokens["admin"], "A", stock=30, threshold=5)
    buyer = Caller(api.call("GET", "/auth/me", token=tokens["customer"]).json["id"], Role.CUSTOMER)
    seed = random.Random(12)
    answers: Counter = Counter()

    def act(kind: str, quantity: int) -> None:
        try:
            if kind == "sale":
                body = SalesOrderIn.model_validate({"items": [{"sku": "A", "quantity": quantity}]})
                sales.create_order(buyer, body, idempotency.NO_KEY)
            elif kind == "sweep":
                holds.release_expired()
            else:
                ttl = 5 if kind == "expiring" else 600
                lines = {"items": [{"sku": "A", "quantity": quantity}], "ttl_seconds": ttl}
                made = holds.create_hold(buyer, HoldIn.model_validate(lines), idempotency.NO_KEY)
                if kind == "convert":
                    holds.convert_hold(buyer, made.item.id, None, idempotency.NO_KEY)
                elif kind == "release":
                    holds.release_hold(buyer, made.item.id)
            answers[kind, "ok"] += 1
        except AppError as exc:  # 409s are expected; anything else fails the test below
            answers[kind, exc.code] += 1

    kinds = ["sale", "convert", "release", "expiring", "keep", "sweep"]
    plan = [(seed.choice(kinds), seed.randint(1, 4)) for _ in range(24)]
    jobs = [functools.partial(act, kind, quantity) for kind, quantity in plan]
    run_together(*jobs)
    frozen.time += 5
    run_together(*jobs[:12])
    holds.release_expired()
    assert {code for (_, code) in answers} <= {"ok", "insufficient_stock"}, answers
    item = Product.get("A", consistent_read=True)
    sold = sum(
        line["quantity"]
        for o in all_items(api, ORDERS, tokens["admin"], limit=100)
        for line in o["items"]
    )
    assert sold + item.stock == 30
    converted = [h for h in Hold.scan() if h.status == "converted"]
    with_hold = [o for o in all_items(api, ORDERS, tokens["admin"], limit=100) if o["hold_id"]]
    assert len(converted) == len(with_hold) == answers["convert", "ok"]
    assert_holds_add_up("A")
