"""Holds over HTTP against the local stack (both backends): keeping units, converting a hold into
an order, releasing it, expiry and the sweep, low stock on `available`, adjustments and
reversals that may not go below `held`, and the invariants under concurrency."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from tests.stack import Http, Reply, all_pages, ledger_sum, new_user

HOLD_STATES = {"active", "expired", "released", "converted"}
MS = timedelta(milliseconds=1)


# ---- helpers ----------------------------------------------------------------------------------


def make_product(
    http: Http, admin: str, stock: int, price: str = "4.00", threshold: int = 0
) -> str:
    sku = f"HLD-{uuid.uuid4().hex[:10]}"
    body = {
        "sku": sku,
        "name": f"Held {sku}",
        "price": price,
        "stock": stock,
        "low_stock_threshold": threshold,
    }
    reply = http.call("POST", "/products", body, admin)
    assert reply.status == 201, reply.json
    return sku


def product(http: Http, admin: str, sku: str) -> dict:
    reply = http.call("GET", f"/products/{sku}", token=admin)
    assert reply.status == 200, reply.json
    p = reply.json
    assert p["available"] == p["stock"] - p["held"], p
    return p


def levels(http: Http, admin: str, sku: str) -> tuple[int, int, int]:
    """(stock, held, available) of a product."""
    p = product(http, admin, sku)
    return p["stock"], p["held"], p["available"]


def movements(http: Http, admin: str, sku: str) -> list[dict]:
    return all_pages(http, f"/products/{sku}/movements", admin)


def pages(http: Http, token: str, path: str, query: str = "") -> list[dict]:
    """Every item of a filtered list, following next_cursor until null."""
    items, cursor = [], None
    while True:
        url = f"{path}?limit=100" + (f"&{query}" if query else "")
        if cursor:
            url += f"&cursor={quote(cursor, safe='')}"
        reply = http.call("GET", url, token=token)
        assert reply.status == 200, (url, reply.json)
        items += reply.json["items"]
        cursor = reply.json["next_cursor"]
        if cursor is None:
            return items


def post_hold(
    http: Http,
    token: str,
    lines: list[tuple[str, int]],
    ttl: int | None = None,
    customer_id: str | None = None,
    key: str | None = None,
) -> Reply:
    body: dict[str, Any] = {"items": [{"sku": sku, "quantity": q} for sku, q in lines]}
    if ttl is not None:
        body["ttl_seconds"] = ttl
    if customer_id is not None:
        body["customer_id"] = customer_id
    headers = {"Idempotency-Key": key} if key else None
    return http.call("POST", "/holds", body, token, headers=headers)


def hold(http: Http, token: str, lines: list[tuple[str, int]], **kwargs: Any) -> dict:
    reply = post_hold(http, token, lines, **kwargs)
    assert reply.status == 201, reply.json
    return reply.json


def convert(http: Http, token: str, hold_id: str, **extra: Any) -> Reply:
    return http.call("POST", "/sales-orders", {"hold_id": hold_id, **extra}, token)


def release(http: Http, token: str, hold_id: str) -> Reply:
    return http.call("DELETE", f"/holds/{hold_id}", token=token)


def get_hold(http: Http, token: str, hold_id: str) -> dict:
    reply = http.call("GET", f"/holds/{hold_id}", token=token)
    assert reply.status == 200, reply.json
    return reply.json


def at(stamp: str) -> datetime:
    assert stamp.endswith("Z"), stamp
    return datetime.fromisoformat(stamp[:-1] + "+00:00")


def wait_past(*stamps: str) -> None:
    """Sleep until every one of these times (the holds' own expires_at) has passed."""
    deadline = max(at(s) for s in stamps).timestamp()
    time.sleep(max(0.0, deadline - time.time()) + 0.3)


def error(reply: Reply, status: int, code: str) -> dict:
    assert reply.status == status and reply.json["code"] == code, (reply.status, reply.json)
    return reply.json


def notifications(http: Http, admin: str, sku: str, status: str) -> list[dict]:
    return [n for n in pages(http, admin, "/notifications", f"status={status}") if n["sku"] == sku]


# ---- creating a hold --------------------------------------------------------------------------


def test_a_hold_keeps_units_without_moving_stock_or_the_ledger(http, admin):
    # given a product of 10 units and a customer
    sku = make_product(http, admin, stock=10)
    customer_id, customer = new_user(http, admin, "customer")
    _, other = new_user(http, admin, "customer")
    before = movements(http, admin, sku)
    assert levels(http, admin, sku) == (10, 0, 10)

    # when the customer holds 3 of them for an hour
    sent = time.time()
    reply = post_hold(http, customer, [(sku, 3)], ttl=3600)
    answered = time.time()

    # then the hold is active, expires an hour after it was made, and only `held` moved
    assert reply.status == 201, reply.json
    made = reply.json
    assert made["status"] == "active" and made["order_id"] is None
    assert made["customer"]["id"] == customer_id and made["created_by"] == customer_id
    assert made["items"] == [{"sku": sku, "name": f"Held {sku}", "quantity": 3}]
    created, expires = at(made["created_at"]), at(made["expires_at"])
    assert abs((expires - created).total_seconds() - 3600) <= 0.002, made
    assert sent - 1 <= created.timestamp() <= answered + 1
    assert levels(http, admin, sku) == (10, 3, 7)
    assert movements(http, admin, sku) == before  # no movement written
    assert ledger_sum(http, admin, sku) == 10

    # and its customer and an admin read it; another customer does not see it
    assert get_hold(http, customer, made["id"]) == made
    assert get_hold(http, admin, made["id"]) == made
    assert error(http.call("GET", f"/holds/{made['id']}", token=other), 404, "not_found")

    # and the default lifetime is 900 seconds
    default = hold(http, customer, [(sku, 1)])
    lifetime = at(default["expires_at"]) - at(default["created_at"])
    assert abs(lifetime.total_seconds() - 900) <= 0.002, default


def test_holds_take_only_available_units_all_lines_or_none(http, admin):
    # given two products, 6 of the first's 10 units held by one customer
    sku = make_product(http, admin, stock=10)
    spare = make_product(http, admin, stock=10)
    customer_id, customer = new_user(http, admin, "customer")
    other_id, other = new_user(http, admin, "customer")
    _, staff = new_user(http, admin, "staff")
    hold(http, customer, [(sku, 6)])

    # when another customer asks for 5: held units are not available
    short = post_hold(http, other, [(spare, 2), (sku, 5)])

    # then 409 names the short line, and no line was held
    body = error(short, 409, "insufficient_stock")
    assert body["details"] == [{"sku": sku, "requested": 5, "available": 4}]
    assert levels(http, admin, spare) == (10, 0, 10)
    assert levels(http, admin, sku) == (10, 6, 4)

    # and an unknown sku, a sku twice, a customer naming another customer, an unknown customer
    # and a ttl out of range are refused, and hold nothing
    missing = f"NOPE-{uuid.uuid4().hex[:8]}"
    error(post_hold(http, other, [(spare, 1), (missing, 1)]), 422, "unknown_sku")
    error(post_hold(http, other, [(spare, 1), (spare, 2)]), 400, "duplicate_sku")
    error(post_hold(http, other, [(spare, 1)], customer_id=customer_id), 403, "forbidden")
    error(post_hold(http, staff, [(spare, 1)], customer_id="no-such-user"), 422, "unknown_customer")
    for ttl in (4, 3601):
        error(post_hold(http, other, [(spare, 1)], ttl=ttl), 400, "validation_error")
    error(post_hold(http, other, [(spare, 0)]), 400, "validation_error")
    assert levels(http, admin, spare) == (10, 0, 10)

    # and a plain sale cannot take held units either
    sale = http.call("POST", "/sales-orders", {"items": [{"sku": sku, "quantity": 5}]}, other)
    body = error(sale, 409, "insufficient_stock")
    assert body["details"] == [{"sku": sku, "requested": 5, "available": 4}]
    sold = http.call("POST", "/sales-orders", {"items": [{"sku": sku, "quantity": 4}]}, other)
    assert sold.status == 201, sold.json
    assert levels(http, admin, sku) == (6, 6, 0)
    assert error(post_hold(http, other, [(sku, 1)]), 409, "insufficient_stock")["details"] == [
        {"sku": sku, "requested": 1, "available": 0}
    ]

    # and staff may hold for a customer: the hold is the customer's, recorded by staff
    for_other = hold(http, staff, [(spare, 2)], customer_id=other_id)
    assert for_other["customer"]["id"] == other_id
    assert get_hold(http, other, for_other["id"])["id"] == for_other["id"]
    assert get_hold(http, staff, for_other["id"])["id"] == for_other["id"]
    assert levels(http, admin, spare) == (10, 2, 8)


def test_an_idempotency_key_holds_once(http, admin):
    # given a product and two customers
    sku = make_product(http, admin, stock=10)
    _, customer = new_user(http, admin, "customer")
    _, other = new_user(http, admin, "customer")
    key = f"hold-{uuid.uuid4().hex}"

    # when a customer sends the same hold twice with one key
    first = post_hold(http, customer, [(sku, 3)], key=key)
    again = post_hold(http, customer, [(sku, 3)], key=key)

    # then it is one hold, held once
    assert first.status == 201, first.json
    assert again.status == 200 and again.json["id"] == first.json["id"], again.json
    assert levels(http, admin, sku) == (10, 3, 7)

    # and the key with another body is refused; another caller's same key is their own
    error(post_hold(http, customer, [(sku, 4)], key=key), 409, "idempotency_key_reused")
    theirs = post_hold(http, other, [(sku, 2)], key=key)
    assert theirs.status == 201 and theirs.json["id"] != first.json["id"]
    assert levels(http, admin, sku) == (10, 5, 5)

    # and once the hold is released, its replay is 404 and holds nothing
    assert release(http, customer, first.json["id"]).status == 204
    error(post_hold(http, customer, [(sku, 3)], key=key), 404, "not_found")
    assert levels(http, admin, sku) == (10, 2, 8)


# ---- conversion -------------------------------------------------------------------------------


def test_converting_a_hold_sells_its_lines_at_the_prices_of_that_moment(http, admin):
    # given a hold recorded by staff for a customer on two products
    sku = make_product(http, admin, stock=10, price="4.00")
    other_sku = make_product(http, admin, stock=5, price="2.50")
    customer_id, customer = new_user(http, admin, "customer")
    staff_id, staff = new_user(http, admin, "staff")
    _, stranger = new_user(http, admin, "customer")
    _, other_staff = new_user(http, admin, "staff")
    made = hold(http, staff, [(sku, 3), (other_sku, 2)], customer_id=customer_id)
    assert made["created_by"] == staff_id
    before = {s: movements(http, admin, s) for s in (sku, other_sku)}
    # and the price changes after the hold was made
    patched = http.call("PATCH", f"/products/{sku}", {"price": "5.00"}, admin)
    assert patched.status == 200, patched.json

    # when a caller who may not see the hold tries to convert it
    # then 404, and nothing moves
    for token in (stranger, other_staff):
        error(convert(http, token, made["id"]), 404, "not_found")
    error(convert(http, customer, f"{made['id']}X"), 404, "not_found")
    # and the wrong forms of the body are 400
    both = {"hold_id": made["id"], "items": [{"sku": sku, "quantity": 1}]}
    error(http.call("POST", "/sales-orders", both, customer), 400, "validation_error")
    for_someone = {"hold_id": made["id"], "customer_id": customer_id}
    error(http.call("POST", "/sales-orders", for_someone, staff), 400, "validation_error")
    assert levels(http, admin, sku) == (10, 3, 7)

    # when its customer converts it
    reply = convert(http, customer, made["id"], note="paid")

    # then the order has the hold's lines, today's prices and the hold's customer
    assert reply.status == 201, reply.json
    order = reply.json
    assert order["hold_id"] == made["id"] and order["status"] == "placed"
    assert order["customer"]["id"] == customer_id and order["created_by"] == customer_id
    assert order["note"] == "paid"
    lines = {line["sku"]: line for line in order["items"]}
    assert set(lines) == {sku, other_sku}
    assert (lines[sku]["quantity"], lines[sku]["unit_price"]) == (3, "5.00")
    assert lines[sku]["line_total"] == "15.00" and lines[sku]["returned"] == 0
    assert (lines[other_sku]["quantity"], lines[other_sku]["unit_price"]) == (2, "2.50")
    assert order["total"] == "20.00"
    # and stock and held fell together, with one sale movement per line
    assert levels(http, admin, sku) == (7, 0, 7)
    assert levels(http, admin, other_sku) == (3, 0, 3)
    for s, q in ((sku, 3), (other_sku, 2)):
        moves = movements(http, admin, s)
        assert moves[1:] == before[s]
        assert moves[0]["kind"] == "sale" and moves[0]["quantity_change"] == -q
        assert moves[0]["reference"] == order["id"] and moves[0]["actor"] == customer_id
        assert ledger_sum(http, admin, s) == product(http, admin, s)["stock"]
    # and the hold is converted, naming its order, which its customer and recorder read
    converted = get_hold(http, staff, made["id"])
    assert converted["status"] == "converted" and converted["order_id"] == order["id"]
    shown = http.call("GET", f"/sales-orders/{order['id']}", token=customer)
    assert shown.status == 200 and shown.json["hold_id"] == made["id"]

    # when it is converted or released again
    # then 409 hold_not_active, and nothing moves
    error(convert(http, customer, made["id"]), 409, "hold_not_active")
    error(convert(http, admin, made["id"]), 409, "hold_not_active")
    error(release(http, customer, made["id"]), 409, "hold_not_active")
    assert levels(http, admin, sku) == (7, 0, 7)
    assert len(movements(http, admin, sku)) == len(before[sku]) + 1

    # and an admin converting a customer's own hold makes the order that customer's
    own = hold(http, customer, [(sku, 1)])
    key = {"Idempotency-Key": f"convert-{uuid.uuid4().hex}"}
    by_admin = http.call("POST", "/sales-orders", {"hold_id": own["id"]}, admin, headers=key)
    assert by_admin.status == 201, by_admin.json
    assert by_admin.json["customer"]["id"] == customer_id
    assert by_admin.json["items"][0]["unit_price"] == "5.00"
    assert levels(http, admin, sku) == (6, 0, 6)
    # and its replay answers the same order (not hold_not_active); another hold with the key 409
    replay = http.call("POST", "/sales-orders", {"hold_id": own["id"]}, admin, headers=key)
    assert replay.status == 200 and replay.json["id"] == by_admin.json["id"], replay.json
    another = hold(http, customer, [(sku, 1)])
    reused = http.call("POST", "/sales-orders", {"hold_id": another["id"]}, admin, headers=key)
    error(reused, 409, "idempotency_key_reused")
    assert levels(http, admin, sku) == (6, 1, 5)


def test_releasing_a_hold_gives_its_units_back(http, admin):
    # given a customer's hold of 4 of 10 units
    sku = make_product(http, admin, stock=10)
    _, customer = new_user(http, admin, "customer")
    _, stranger = new_user(http, admin, "customer")
    made = hold(http, customer, [(sku, 4)])
    before = movements(http, admin, sku)

    # when another customer tries to release it, then 404 and it stays held
    error(release(http, stranger, made["id"]), 404, "not_found")
    assert levels(http, admin, sku) == (10, 4, 6)

    # when its customer releases it
    reply = release(http, customer, made["id"])

    # then 204, held falls back, stock and the ledger did not move
    assert reply.status == 204 and not reply.body
    assert levels(http, admin, sku) == (10, 0, 10)
    assert movements(http, admin, sku) == before
    # and it stays readable, released, and can neither be released nor converted again
    released = get_hold(http, customer, made["id"])
    assert released["status"] == "released" and released["order_id"] is None
    error(release(http, customer, made["id"]), 409, "hold_not_active")
    error(convert(http, customer, made["id"]), 409, "hold_not_active")
    assert levels(http, admin, sku) == (10, 0, 10)
    # and an admin releases anyone's hold
    theirs = hold(http, stranger, [(sku, 2)])
    assert release(http, admin, theirs["id"]).status == 204
    assert levels(http, admin, sku) == (10, 0, 10)


# ---- expiry -----------------------------------------------------------------------------------


def test_expired_holds_cannot_be_converted_and_the_sweep_gives_their_units_back(http, admin):
    # given holds of one customer: three of 5 seconds, and one of each other state
    sku = make_product(http, admin, stock=20)
    customer_id, customer = new_user(http, admin, "customer")
    _, staff = new_user(http, admin, "staff")
    key = f"expiring-{uuid.uuid4().hex}"
    short = [
        hold(http, customer, [(sku, 2)], ttl=5, key=key),
        hold(http, customer, [(sku, 3)], ttl=5),
        hold(http, customer, [(sku, 1)], ttl=5),
    ]
    for made in short:
        lifetime = at(made["expires_at"]) - at(made["created_at"])
        assert made["status"] == "active" and abs(lifetime.total_seconds() - 5) <= 0.002
    assert get_hold(http, customer, short[0]["id"])["status"] == "active"
    long = hold(http, customer, [(sku, 1)], ttl=600)
    to_convert = hold(http, customer, [(sku, 2)], ttl=600)
    order = convert(http, customer, to_convert["id"])
    assert order.status == 201, order.json
    to_release = hold(http, customer, [(sku, 1)], ttl=600)
    assert release(http, customer, to_release["id"]).status == 204
    assert levels(http, admin, sku) == (18, 7, 11)
    ledger = movements(http, admin, sku)

    # when their expires_at has passed
    wait_past(*(made["expires_at"] for made in short))

    # then they read expired, their units still held until released
    for made in short:
        assert get_hold(http, customer, made["id"])["status"] == "expired"
    assert levels(http, admin, sku) == (18, 7, 11)

    # and the lists filter by status (admin, one customer's)
    def listed(status: str | None) -> dict[str, str]:
        query = f"customer_id={customer_id}" + (f"&status={status}" if status else "")
        items = pages(http, admin, "/holds", query)
        assert [h["created_at"] for h in items] == sorted(
            (h["created_at"] for h in items), reverse=True
        )  # newest first
        return {h["id"]: h["status"] for h in items}

    every = {h["id"] for h in [*short, long, to_convert, to_release]}
    assert listed("expired") == {h["id"]: "expired" for h in short}
    assert listed("active") == {long["id"]: "active"}
    assert listed("converted") == {to_convert["id"]: "converted"}
    assert listed("released") == {to_release["id"]: "released"}
    everything = listed(None)
    assert set(everything) == every
    assert Counter(everything.values()) == {
        "expired": 3,
        "active": 1,
        "converted": 1,
        "released": 1,
    }
    assert {h["id"] for h in pages(http, customer, "/holds")} == every

    # when an expired hold is converted: 409 hold_expired, nothing moves
    error(convert(http, customer, short[0]["id"]), 409, "hold_expired")
    assert levels(http, admin, sku) == (18, 7, 11)
    # when one is released by DELETE: 204, its unit is back
    assert release(http, customer, short[2]["id"]).status == 204
    assert levels(http, admin, sku) == (18, 6, 12)

    # when the sweep runs: only an admin may run it
    for token in (staff, customer):
        error(http.call("POST", "/holds/release-expired", token=token), 403, "forbidden")
    swept = http.call("POST", "/holds/release-expired", token=admin)

    # then the two expired holds are released, their units available, stock untouched
    assert swept.status == 200, swept.json
    assert set(swept.json) == {"released"} and swept.json["released"] >= 2
    for made in short:
        assert get_hold(http, customer, made["id"])["status"] == "released"
    assert levels(http, admin, sku) == (18, 1, 17)
    assert movements(http, admin, sku) == ledger
    assert http.call("POST", "/holds/release-expired", token=admin).json == {"released": 0}
    assert listed("expired") == {}
    assert set(listed("released")) == {to_release["id"], *(h["id"] for h in short)}
    assert listed("active") == {long["id"]: "active"}
    # and released holds cannot be converted, released, or replayed by their key
    error(convert(http, customer, short[0]["id"]), 409, "hold_not_active")
    error(release(http, customer, short[1]["id"]), 409, "hold_not_active")
    error(post_hold(http, customer, [(sku, 2)], ttl=5, key=key), 404, "not_found")
    assert levels(http, admin, sku) == (18, 1, 17)


def test_an_admin_lists_every_customers_holds_by_status(http, admin):
    # given holds of two customers: active, converted and released
    sku = make_product(http, admin, stock=10)
    _, first = new_user(http, admin, "customer")
    _, second = new_user(http, admin, "customer")
    active = [hold(http, first, [(sku, 1)]), hold(http, second, [(sku, 2)])]
    converted = hold(http, second, [(sku, 1)])
    assert convert(http, second, converted["id"]).status == 201
    released = hold(http, first, [(sku, 1)])
    assert release(http, first, released["id"]).status == 204

    # when an admin lists every customer's holds by status (no ?customer_id=)
    def listed(status: str | None) -> dict[str, str]:
        query = f"status={status}" if status else ""
        items = pages(http, admin, "/holds", query)
        return {h["id"]: h["status"] for h in items if h["items"][0]["sku"] == sku}

    # then each list has exactly the holds in that state, whoever their customer
    assert listed("active") == {h["id"]: "active" for h in active}
    assert listed("converted") == {converted["id"]: "converted"}
    assert listed("released") == {released["id"]: "released"}
    assert listed("expired") == {}
    assert set(listed(None)) == {h["id"] for h in [*active, converted, released]}


# ---- low stock, adjustments, reversals --------------------------------------------------------


def test_low_stock_follows_available_as_holds_come_and_go(http, admin):
    # given a product of 10 units, low below 5
    sku = make_product(http, admin, stock=10, threshold=5)
    _, customer = new_user(http, admin, "customer")

    def low_listed() -> bool:
        reply = http.call("GET", f"/products?q={sku}&stock=low", token=admin)
        return [p["sku"] for p in reply.json["items"]] == [sku]

    # when a hold leaves exactly the threshold available: not low
    big = hold(http, customer, [(sku, 5)])
    assert notifications(http, admin, sku, "open") == [] and not low_listed()

    # when a hold makes available fall below the threshold
    hold(http, customer, [(sku, 1)])

    # then one notification is open at once, about the available units
    opened = notifications(http, admin, sku, "open")
    assert len(opened) == 1, opened
    assert (opened[0]["stock"], opened[0]["threshold"]) == (4, 5)
    assert low_listed()
    # and more holds and a conversion (available does not move) keep that one episode
    third = hold(http, customer, [(sku, 1)])
    assert convert(http, customer, third["id"]).status == 201
    assert levels(http, admin, sku) == (9, 6, 3)
    assert [n["id"] for n in notifications(http, admin, sku, "open")] == [opened[0]["id"]]

    # when the big hold is released: available is back above the threshold
    assert release(http, customer, big["id"]).status == 204

    # then the episode is resolved
    assert levels(http, admin, sku) == (9, 1, 8)
    assert notifications(http, admin, sku, "open") == [] and not low_listed()
    resolved = notifications(http, admin, sku, "resolved")
    assert [n["id"] for n in resolved] == [opened[0]["id"]] and resolved[0]["resolved_at"]


def test_adjustments_and_reversals_may_not_go_below_held(http, admin):
    # given 15 units (10 initial and a purchase of 5), 12 of them held
    sku = make_product(http, admin, stock=10)
    _, customer = new_user(http, admin, "customer")
    _, staff = new_user(http, admin, "staff")
    bought = http.call(
        "POST", "/purchase-orders", {"sku": sku, "quantity": 5, "supplier_name": "Acme"}, staff
    )
    assert bought.status == 201, bought.json
    made = hold(http, customer, [(sku, 12)])
    assert levels(http, admin, sku) == (15, 12, 3)

    def adjust(**body: Any) -> Reply:
        return http.call("POST", f"/products/{sku}/adjustments", {"reason": "count", **body}, staff)

    # when adjustments, a PATCH of stock and the reversal would leave less than is held
    # then 409 insufficient_stock, and nothing moves
    for body in ({"change": -4}, {"set_to": 11}, {"set_to": 0}):
        error(adjust(**body), 409, "insufficient_stock")
    patched = http.call("PATCH", f"/products/{sku}", {"stock": 11}, admin)
    error(patched, 409, "insufficient_stock")
    reversal = http.call("DELETE", f"/purchase-orders/{bought.json['id']}", token=admin)
    body = error(reversal, 409, "insufficient_stock")
    assert body["details"][0]["sku"] == sku
    assert levels(http, admin, sku) == (15, 12, 3)
    assert ledger_sum(http, admin, sku) == 15

    # when an adjustment leaves exactly what is held: allowed
    counted = adjust(set_to=12)
    assert counted.status == 201, counted.json
    assert (counted.json["stock"], counted.json["held"], counted.json["available"]) == (12, 12, 0)
    error(adjust(change=-1), 409, "insufficient_stock")

    # when the hold is released, the reversal can take its 5 units
    assert release(http, customer, made["id"]).status == 204
    reversal = http.call("DELETE", f"/purchase-orders/{bought.json['id']}", token=admin)
    assert reversal.status == 204, reversal.json
    assert levels(http, admin, sku) == (7, 0, 7)
    assert ledger_sum(http, admin, sku) == 7


# ---- concurrency ------------------------------------------------------------------------------


def race(*calls: Any) -> list[Reply]:
    """Run the calls at once (each its own thread and its own connection)."""
    start = threading.Barrier(len(calls))

    def run(call: Any) -> Reply:
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_a_hold_raced_by_itself_makes_one_order_or_one_release(http, admin):
    # given a product and a customer
    sku = make_product(http, admin, stock=40)
    _, customer = new_user(http, admin, "customer")
    orders = []

    for _ in range(5):
        # when two conversions of one hold run at once
        made = hold(http, customer, [(sku, 2)])
        replies = race(*[lambda h=made: convert(http, customer, h["id"])] * 2)
        # then exactly one order, the other 409 hold_not_active
        statuses = sorted(r.status for r in replies)
        assert statuses == [201, 409], [r.json for r in replies]
        won = next(r for r in replies if r.status == 201).json
        lost = next(r for r in replies if r.status == 409).json
        assert lost["code"] == "hold_not_active", lost
        assert won["hold_id"] == made["id"]
        assert get_hold(http, customer, made["id"])["order_id"] == won["id"]
        orders.append(won["id"])

    for _ in range(3):
        # when a conversion and a release of one hold run at once
        made = hold(http, customer, [(sku, 1)])
        converting, releasing = race(
            lambda h=made: convert(http, customer, h["id"]),
            lambda h=made: release(http, customer, h["id"]),
        )
        # then exactly one of them happened
        outcome = (converting.status, releasing.status)
        assert outcome in ((201, 409), (409, 204)), (converting.json, releasing.json)
        loser = converting if converting.status == 409 else releasing
        assert loser.json["code"] == "hold_not_active", loser.json
        final = get_hold(http, customer, made["id"])
        if converting.status == 201:
            orders.append(converting.json["id"])
            assert final["status"] == "converted"
        else:
            assert final["status"] == "released"

    for _ in range(2):
        # when the same hold is sent twice at once with one key
        key = f"race-{uuid.uuid4().hex}"
        replies = race(*[lambda k=key: post_hold(http, customer, [(sku, 1)], key=k)] * 2)
        # then one hold, held once
        assert sorted(r.status for r in replies) == [200, 201], [r.json for r in replies]
        assert replies[0].json["id"] == replies[1].json["id"]
        assert release(http, customer, replies[0].json["id"]).status == 204

    # and in the end the stock fell by the units of the orders only
    moves = movements(http, admin, sku)
    sales = [m for m in moves if m["kind"] == "sale"]
    assert sorted(m["reference"] for m in sales) == sorted(orders)
    sold = -sum(m["quantity_change"] for m in sales)
    assert levels(http, admin, sku) == (40 - sold, 0, 40 - sold)
    assert ledger_sum(http, admin, sku) == 40 - sold


THREADS = 20
RUN_SECONDS = 8.0  # longer than the short holds' 5 s: some expire while the others work


def test_mixed_holds_conversions_releases_sweeps_and_sales_keep_every_invariant(http, admin):
    # given one product of 30 units (low below 8) and customers on 20 threads
    initial, threshold = 30, 8
    sku = make_product(http, admin, stock=initial, threshold=threshold)
    buyers = [new_user(http, admin, "customer") for _ in range(5)]
    events: list[tuple[str, Reply, dict | None, float]] = []  # kind, reply, hold, answered at
    start = time.monotonic()

    def worker(n: int) -> None:
        rng = random.Random(n)
        _, token = buyers[n % len(buyers)]
        mine: list[dict] = []  # this thread's holds, not yet converted or released by it
        while time.monotonic() < start + RUN_SECONDS:
            roll = rng.random()
            target = mine.pop(rng.randrange(len(mine))) if mine and roll < 0.35 else None
            if target is not None and roll < 0.15:
                kind, reply = "convert", convert(http, token, target["id"])
            elif target is not None:
                kind, reply = "release", release(http, token, target["id"])
            elif 0.35 <= roll < 0.45:
                kind, reply = "sweep", http.call("POST", "/holds/release-expired", token=admin)
            elif 0.45 <= roll < 0.55:
                body = {"items": [{"sku": sku, "quantity": rng.randint(1, 2)}]}
                kind, reply = "sale", http.call("POST", "/sales-orders", body, token)
            else:
                ttl = 5 if rng.random() < 0.6 else 600
                kind, reply = "hold", post_hold(http, token, [(sku, rng.randint(1, 2))], ttl=ttl)
                # a short hold is abandoned half the time (the sweep or its expiry ends it)
                if reply.status == 201 and (ttl == 600 or rng.random() < 0.5):
                    mine.append(reply.json)
            events.append((kind, reply, target, time.time()))

    # when they hold, convert their holds, release them, sweep and sell, all at once
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for done in [pool.submit(worker, n) for n in range(THREADS)]:
            done.result()

    # then no request failed with a 5xx, and each answer is one the contract allows
    kinds = Counter((kind, reply.status) for kind, reply, _, _ in events)
    assert not [k for k in kinds if k[1] >= 500], kinds
    holds_made: dict[str, dict] = {}
    orders_made: dict[str, dict] = {}
    for kind, reply, target, answered in events:
        if kind == "sweep":
            assert reply.status == 200 and reply.json["released"] >= 0, reply.json
        elif kind in ("hold", "sale") and reply.status == 409:
            body = error(reply, 409, "insufficient_stock")
            [line] = body["details"]
            assert line["sku"] == sku and 0 <= line["available"] < line["requested"], body
        elif kind == "hold":
            assert reply.status == 201, reply.json
            holds_made[reply.json["id"]] = reply.json
        elif kind == "sale":
            assert reply.status == 201 and reply.json["hold_id"] is None, reply.json
            orders_made[reply.json["id"]] = reply.json
        else:
            assert target is not None
            lasting = (at(target["expires_at"]) - at(target["created_at"])).seconds > 60
            ok = 201 if kind == "convert" else 204
            if lasting:  # nobody else touches a hold of 10 minutes: it must work
                assert reply.status == ok, (kind, reply.json)
            else:
                assert reply.status in (ok, 409), (kind, reply.json)
            if reply.status == 409:
                code = reply.json["code"]
                assert code in ("hold_expired", "hold_not_active"), reply.json
                if code == "hold_expired":  # never before its time
                    assert answered >= at(target["expires_at"]).timestamp() - 0.01
            elif kind == "convert":
                order = reply.json
                assert order["hold_id"] == target["id"]
                assert order["customer"] == target["customer"]
                assert [(i["sku"], i["quantity"]) for i in order["items"]] == [
                    (i["sku"], i["quantity"]) for i in target["items"]
                ]
                assert at(order["created_at"]) < at(target["expires_at"]) + MS, (order, target)
                orders_made[order["id"]] = order
    assert kinds[("hold", 201)] and kinds[("convert", 201)] and kinds[("release", 204)], kinds
    assert kinds[("sweep", 200)], kinds
    swept = sum(reply.json["released"] for kind, reply, _, _ in events if kind == "sweep")
    too_late = sum(
        1
        for _, reply, _, _ in events
        if reply.status == 409 and reply.json["code"] == "hold_expired"
    )

    # and stock, held and the holds agree: 0 <= held <= stock, held is the active and expired
    stock, held, _ = levels(http, admin, sku)
    listed = [h for h in pages(http, admin, "/holds") if h["items"][0]["sku"] == sku]
    assert 0 <= held <= stock, (held, stock)
    assert len(listed) == len({h["id"] for h in listed})  # each hold listed once
    assert {h["id"] for h in listed} == set(holds_made)
    by_id = {h["id"]: h for h in listed}
    assert all(h["status"] in HOLD_STATES for h in listed), Counter(h["status"] for h in listed)
    keeping = [h for h in listed if h["status"] in ("active", "expired")]
    assert held == sum(h["items"][0]["quantity"] for h in keeping), (held, keeping)
    # (and holds did expire while the others worked: the run exercised expiry)
    assert swept + too_late + sum(h["status"] == "expired" for h in listed) > 0, kinds

    # and every order is recorded, and the units sold plus the stock are the initial stock
    orders = [o for o in pages(http, admin, "/sales-orders") if o["items"][0]["sku"] == sku]
    assert {o["id"] for o in orders} == set(orders_made)
    sold = sum(o["items"][0]["quantity"] for o in orders)
    assert sold + stock == initial, (sold, stock)
    moves = movements(http, admin, sku)
    assert stock == sum(m["quantity_change"] for m in moves)
    assert Counter(m["kind"] for m in moves) == {"initial": 1, "sale": len(orders)}
    assert {m["reference"] for m in moves if m["kind"] == "sale"} == set(orders_made)

    # and an order was made from each converted hold, once, and from no other
    from_holds = {o["hold_id"]: o for o in orders if o["hold_id"] is not None}
    converted = {h["id"]: h for h in listed if h["status"] == "converted"}
    assert len(from_holds) == len([o for o in orders if o["hold_id"]]) == len(converted)
    assert set(from_holds) == set(converted)
    for hold_id, made in converted.items():
        assert made["order_id"] == from_holds[hold_id]["id"]
        assert from_holds[hold_id]["items"][0]["quantity"] == made["items"][0]["quantity"]
    assert all(h["order_id"] is None for h in listed if h["status"] != "converted")

    # and each hold is in exactly one state: each customer's status lists split them
    def with_status(status: str | None) -> set[str]:
        found: list[str] = []
        for buyer_id, _ in buyers:
            query = f"customer_id={buyer_id}" + (f"&status={status}" if status else "")
            found += [h["id"] for h in pages(http, admin, "/holds", query)]
        assert len(found) == len(set(found)), status  # each hold listed once
        return set(found)

    assert with_status(None) == set(by_id)
    split = {status: with_status(status) for status in ("converted", "released", "active")}
    split["expired"] = with_status("expired")  # read last: an active one may have expired since
    for status in ("converted", "released"):  # these never change again
        assert split[status] == {i for i, h in by_id.items() if h["status"] == status}
    keeping_ids = {h["id"] for h in keeping}
    assert split["active"] | split["expired"] == keeping_ids
    ended = split["converted"] | split["released"]
    assert len(ended) == len(split["converted"]) + len(split["released"])
    assert ended.isdisjoint(keeping_ids) and ended | keeping_ids == set(by_id)

    # when what is left is swept and released
    assert http.call("POST", "/holds/release-expired", token=admin).status == 200
    for made in keeping:
        reply = release(http, admin, made["id"])
        if reply.status != 204:  # the sweep released it first
            error(reply, 409, "hold_not_active")

    # then nothing is held, stock did not move, and low stock is judged on what is available
    assert levels(http, admin, sku) == (stock, 0, stock)
    assert movements(http, admin, sku) == moves
    assert http.call("POST", "/notifications/check", token=admin).status == 200
    opened = notifications(http, admin, sku, "open")
    assert len(opened) == (1 if stock < threshold else 0), (stock, opened)
