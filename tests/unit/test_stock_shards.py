"""Flash sales (API.md): a product's stock in `stock_shards` parts, and every rule of the contract
unchanged: no oversell, the exact ledger, holds, returns, adjustments, one low-stock episode, the
totals in every product read, and a resize that moves no stock and writes no movement."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from chalicelib.alerts import check
from chalicelib.store.models import AlertState, Notification, StockPart
from tests.unit.helpers import (
    HOLDS,
    ORDERS,
    PURCHASES,
    add_product,
    all_items,
    assert_ledger,
    buy,
    convert,
    hold,
    movements,
    order,
    run_together,
)

PRODUCTS = "/products"


def shard(api: Any, admin: str, sku: str, shards: int, method: str = "PATCH") -> dict:
    body: dict[str, Any] = {"stock_shards": shards}
    if method == "PUT":
        body |= {"name": f"Item {sku}", "price": "19.99", "low_stock_threshold": 0}
    reply = api.call(method, f"{PRODUCTS}/{sku}", body, admin)
    assert reply.status == 200, reply.json
    return reply.json


def shown(api: Any, token: str, sku: str) -> dict:
    """The product as the API shows it, checked for the contract's sums."""
    body = api.call("GET", f"{PRODUCTS}/{sku}", token=token).json
    assert body["available"] == body["stock"] - body["held"], body
    assert 0 <= body["held"] <= body["stock"], body
    return body


def parts(sku: str) -> dict[int, StockPart]:
    return {int(p.part.rsplit("#", 1)[1]): p for p in StockPart.scan() if p.sku == sku}


def assert_parts_exact(sku: str) -> None:
    """Every part is sound on its own: 0 <= held <= stock, available == stock - held."""
    for part in parts(sku).values():
        assert 0 <= int(part.held) <= int(part.stock), part.attribute_values
        assert int(part.available) == int(part.stock) - int(part.held), part.attribute_values


def test_a_resize_splits_the_stock_evenly_and_moves_no_stock(api, tokens):
    add_product(api, tokens["admin"], "F", stock=100)
    before = len(movements("F"))
    body = shard(api, tokens["admin"], "F", 8)
    assert (body["stock_shards"], body["stock"], body["held"], body["available"]) == (
        8,
        100,
        0,
        100,
    )
    stored = parts("F")
    assert sorted(stored) == list(range(1, 8))
    # Part 0 is the product item: 13 there, then 13, 13, 13, 12, 12, 12, 12.
    assert [int(stored[k].stock) for k in range(1, 8)] == [13, 13, 13, 12, 12, 12, 12]
    assert len(movements("F")) == before  # no movement: no unit entered or left
    assert shown(api, tokens["customer"], "F")["stock_shards"] == 8
    # Back to fewer parts: the removed parts' units return, still no movement.
    assert shard(api, tokens["admin"], "F", 3)["stock"] == 100
    assert sorted(parts("F")) == [1, 2]
    assert shard(api, tokens["admin"], "F", 1, method="PUT")["stock_shards"] == 1
    assert parts("F") == {} and shown(api, tokens["admin"], "F")["stock"] == 100
    assert len(movements("F")) == before
    assert_ledger("F")


@pytest.mark.parametrize("bad", [0, 65, "8", None, 2.5])
def test_stock_shards_outside_1_to_64_is_400_and_changes_nothing(api, tokens, bad):
    add_product(api, tokens["admin"], "F", stock=10)
    reply = api.call("PATCH", f"{PRODUCTS}/F", {"stock_shards": bad}, tokens["admin"])
    assert reply.status == 400 and reply.json["code"] == "validation_error", reply.json
    assert shown(api, tokens["admin"], "F")["stock_shards"] == 1 and parts("F") == {}


def test_only_an_admin_may_change_stock_shards(api, tokens):
    add_product(api, tokens["admin"], "F", stock=10)
    for role in ("staff", "customer"):
        reply = api.call("PATCH", f"{PRODUCTS}/F", {"stock_shards": 4}, tokens[role])
        assert reply.status == 403, role
    assert parts("F") == {}


def test_sales_take_from_the_parts_and_a_larger_line_spans_several(api, tokens):
    add_product(api, tokens["admin"], "F", stock=20)
    shard(api, tokens["admin"], "F", 8)  # 3, 3, 3, 3, 2, 2, 2, 2
    assert order(api, tokens["customer"], [("F", 1)]).status == 201
    made = order(api, tokens["customer"], [("F", 10)])  # no part has 10: it spans parts
    assert made.status == 201, made.json
    assert shown(api, tokens["customer"], "F")["stock"] == 9
    short = order(api, tokens["customer"], [("F", 10)])
    assert short.status == 409 and short.json["code"] == "insufficient_stock"
    assert short.json["details"] == [{"sku": "F", "requested": 10, "available": 9}]
    sale = [m for m in movements("F") if m.reference == made.json["id"]]
    assert [m.quantity_change for m in sale] == [-10]  # one movement for the line
    assert_ledger("F")
    assert_parts_exact("F")


def test_no_oversell_under_concurrency_with_parts(api, tokens, atomic_moto):
    add_product(api, tokens["admin"], "F", stock=30)
    shard(api, tokens["admin"], "F", 8)
    statuses: list[int] = []
    lock = threading.Lock()

    def buyer() -> None:
        for _ in range(4):
            reply = order(api, tokens["customer"], [("F", random.choice((1, 2)))])
            with lock:
                statuses.append(reply.status)

    run_together(*[buyer for _ in range(16)])
    body = shown(api, tokens["admin"], "F")
    sold = -sum(m.quantity_change for m in movements("F") if m.kind == "sale")
    assert set(statuses) <= {201, 409, 503}, statuses
    assert body["stock"] == 30 - sold >= 0
    assert statuses.count(201) >= 15  # 30 units in lines of 1 or 2
    assert_ledger("F")
    assert_parts_exact("F")


def test_holds_keep_units_in_parts_and_survive_a_resize(api, tokens):
    add_product(api, tokens["admin"], "F", stock=40)
    shard(api, tokens["admin"], "F", 4)  # 10 a part
    kept = hold(api, tokens["customer"], [("F", 15)])  # larger than any part
    assert kept.status == 201, kept.json
    sold = hold(api, tokens["customer"], [("F", 3)]).json["id"]
    body = shown(api, tokens["customer"], "F")
    assert (body["stock"], body["held"], body["available"]) == (40, 18, 22)
    short = hold(api, tokens["customer"], [("F", 23)])
    assert short.status == 409 and short.json["details"][0]["available"] == 22
    # Merged back to one part, then split again: the held units follow (to part 0).
    shard(api, tokens["admin"], "F", 1)
    assert (shown(api, tokens["admin"], "F")["held"], parts("F")) == (18, {})
    shard(api, tokens["admin"], "F", 6)
    assert convert(api, tokens["customer"], sold).status == 201
    released = api.call("DELETE", f"{HOLDS}/{kept.json['id']}", token=tokens["customer"])
    assert released.status == 204
    body = shown(api, tokens["customer"], "F")
    assert (body["stock"], body["held"], body["available"]) == (37, 0, 37)
    assert_ledger("F")
    assert_parts_exact("F")


def test_a_held_part_removed_and_remade_releases_from_where_the_units_are(api, tokens):
    add_product(api, tokens["admin"], "F", stock=8)
    shard(api, tokens["admin"], "F", 4)  # 2 a part
    kept = [hold(api, tokens["customer"], [("F", 2)]).json["id"] for _ in range(4)]
    shard(api, tokens["admin"], "F", 2)  # parts 2 and 3 removed: their held to part 0
    shard(api, tokens["admin"], "F", 4)  # made again, with nothing held
    for hold_id in kept:
        reply = api.call("DELETE", f"{HOLDS}/{hold_id}", token=tokens["customer"])
        assert reply.status == 204, reply.json
    body = shown(api, tokens["admin"], "F")
    assert (body["stock"], body["held"], body["available"]) == (8, 0, 8)
    assert_parts_exact("F")


def test_returns_cancellations_purchases_and_reversals_with_parts(api, tokens):
    add_product(api, tokens["admin"], "F", stock=16)
    shard(api, tokens["admin"], "F", 4)
    made = order(api, tokens["customer"], [("F", 6)]).json
    back = api.call(
        "POST",
        f"{ORDERS}/{made['id']}/returns",
        {"items": [{"sku": "F", "quantity": 2, "restock": True}]},
        tokens["staff"],
    )
    assert back.status == 201, back.json
    assert api.call("DELETE", f"{ORDERS}/{made['id']}", token=tokens["admin"]).status == 204
    assert shown(api, tokens["admin"], "F")["stock"] == 16
    bought = buy(api, tokens["staff"], "F", quantity=9).json
    assert shown(api, tokens["admin"], "F")["stock"] == 25
    assert api.call("DELETE", f"{PURCHASES}/{bought['id']}", token=tokens["admin"]).status == 204
    assert shown(api, tokens["admin"], "F")["stock"] == 16
    assert_ledger("F")
    assert_parts_exact("F")


def test_adjustments_with_parts(api, tokens):
    add_product(api, tokens["admin"], "F", stock=20)
    shard(api, tokens["admin"], "F", 4)
    path = f"{PRODUCTS}/F/adjustments"
    minus = api.call("POST", path, {"change": -7, "reason": "damaged"}, tokens["staff"])
    assert minus.status == 201 and minus.json["stock"] == 13, minus.json
    counted = {"set_to": 30, "expected_stock": 13, "reason": "count"}
    assert api.call("POST", path, counted, tokens["staff"]).json["stock"] == 30
    stale = api.call("POST", path, {**counted, "set_to": 5}, tokens["staff"])
    assert stale.status == 409 and stale.json["code"] == "stock_changed"
    down = api.call("POST", path, {"set_to": 2, "reason": "count"}, tokens["staff"])
    assert down.status == 201 and down.json["stock"] == 2
    fixed = api.call("PATCH", f"{PRODUCTS}/F", {"stock": 9, "name": "Flash"}, tokens["admin"])
    assert (fixed.json["stock"], fixed.json["name"], fixed.json["stock_shards"]) == (9, "Flash", 4)
    assert shown(api, tokens["admin"], "F")["stock"] == 9
    assert_ledger("F")
    assert_parts_exact("F")


def test_one_low_stock_episode_on_the_total(api, tokens, ses):
    add_product(api, tokens["admin"], "F", stock=24)
    api.call("PATCH", f"{PRODUCTS}/F", {"low_stock_threshold": 10}, tokens["admin"])
    shard(api, tokens["admin"], "F", 4)  # 6 a part: no part is "low", the total decides
    for _ in range(7):
        assert order(api, tokens["customer"], [("F", 2)]).status == 201
    assert shown(api, tokens["admin"], "F")["available"] == 10  # 12 units out: not yet low
    assert list(AlertState.scan()) == []
    assert order(api, tokens["customer"], [("F", 1)]).status == 201  # 9 < 10: low
    assert [state.sku for state in AlertState.scan()] == ["F"]
    for _ in range(3):
        assert order(api, tokens["customer"], [("F", 1)]).status == 201
        check.run_check()
    low = all_items(api, f"{PRODUCTS}?stock=low", tokens["staff"])
    assert [p["sku"] for p in low] == ["F"]
    assert check.run_check()["low_stock"] == 1
    (notification,) = list(Notification.scan())
    assert notification.status == "open"
    buy(api, tokens["staff"], "F", quantity=10)  # 16 available: the episode ends
    (notification,) = list(Notification.scan())
    assert notification.status == "resolved" and list(AlertState.scan()) == []
    assert all_items(api, f"{PRODUCTS}?stock=low", tokens["staff"]) == []
    assert check.run_check()["created"] == 0


def test_the_check_opens_and_resolves_episodes_of_sharded_products(api, tokens, ses):
    """An episode the write did not open (a lost follow-up) is opened by the check, which
    reads the total; one a write did not close is closed by it."""
    add_product(api, tokens["admin"], "F", stock=12)
    api.call("PATCH", f"{PRODUCTS}/F", {"low_stock_threshold": 10}, tokens["admin"])
    shard(api, tokens["admin"], "F", 3)
    from chalicelib.inventory import stock as stock_module

    original = stock_module.open_episodes
    stock_module.open_episodes = lambda products: None  # the follow-up is lost
    try:
        assert order(api, tokens["customer"], [("F", 5)]).status == 201
    finally:
        stock_module.open_episodes = original
    assert list(AlertState.scan()) == []
    assert check.run_check()["created"] == 1
    assert [state.sku for state in AlertState.scan()] == ["F"]
    original_settle = stock_module.settle_episodes
    stock_module.settle_episodes = lambda products: None
    try:
        buy(api, tokens["staff"], "F", quantity=20)
    finally:
        stock_module.settle_episodes = original_settle
    assert [state.sku for state in AlertState.scan()] == ["F"]
    check.run_check()
    assert list(AlertState.scan()) == []
    (notification,) = list(Notification.scan())
    assert notification.status == "resolved"


def test_changing_stock_shards_while_orders_run_loses_nothing(api, tokens, atomic_moto):
    add_product(api, tokens["admin"], "F", stock=200)
    statuses: list[int] = []
    lock = threading.Lock()

    def buyer() -> None:
        for _ in range(6):
            reply = order(api, tokens["customer"], [("F", 1)])
            with lock:
                statuses.append(reply.status)

    def resizer() -> None:
        for shards in (8, 3, 16, 1, 5):
            reply = api.call("PATCH", f"{PRODUCTS}/F", {"stock_shards": shards}, tokens["admin"])
            with lock:
                statuses.append(reply.status)

    run_together(resizer, *[buyer for _ in range(8)])
    assert set(statuses) <= {200, 201, 503}, statuses
    sold = statuses.count(201)
    body = shown(api, tokens["admin"], "F")
    assert body["stock"] == 200 - sold and body["held"] == 0
    assert body["stock_shards"] in (8, 3, 16, 1, 5)
    assert_ledger("F")
    assert_parts_exact("F")


def test_movements_of_every_part_are_listed_newest_first(api, tokens):
    add_product(api, tokens["admin"], "F", stock=64)
    shard(api, tokens["admin"], "F", 16)
    made = [order(api, tokens["customer"], [("F", 1)]).json["id"] for _ in range(10)]
    shard(api, tokens["admin"], "F", 2)  # fewer parts: the old ledgers are still listed
    listed = all_items(api, f"{PRODUCTS}/F/movements", tokens["staff"], limit=3)
    assert [m["reference"] for m in listed if m["kind"] == "sale"] == made[::-1]
    assert sum(m["quantity_change"] for m in listed) == 54


def test_a_deleted_sharded_product_takes_its_parts_and_a_namesake_starts_afresh(api, tokens):
    add_product(api, tokens["admin"], "F", stock=30)
    shard(api, tokens["admin"], "F", 5)
    assert api.call("DELETE", f"{PRODUCTS}/F", token=tokens["admin"]).status == 204
    assert parts("F") == {}
    add_product(api, tokens["admin"], "F", stock=3)
    body = shown(api, tokens["admin"], "F")
    assert (body["stock"], body["stock_shards"]) == (3, 1)
    assert_ledger("F")


def test_a_flash_sale_reads_its_parts_eventually_consistently_and_refuses_from_a_consistent_read(
    api, tokens
):
    """Every sale of a sharded sku reads every part: eventually consistent (half the read units),
    the rest of the batch (the customer, the marker) consistent; a 409 is answered only after a
    consistent read says so."""
    from chalicelib.store import db

    add_product(api, tokens["admin"], "F", stock=4)
    shard(api, tokens["admin"], "F", 4)
    reads: list[dict[str, bool]] = []

    def seen(params: dict, **_: Any) -> None:
        tables = params["RequestItems"].items()
        reads.append({t.rsplit("-", 1)[-1]: r["ConsistentRead"] for t, r in tables})

    events = db.client().meta.events
    events.register("provide-client-params.dynamodb.BatchGetItem", seen, unique_id="reads")
    try:
        assert order(api, tokens["customer"], [("F", 1)]).status == 201
        first = reads[0]
        reads.clear()
        short = order(api, tokens["customer"], [("F", 9)])
    finally:
        events.unregister("provide-client-params.dynamodb.BatchGetItem", unique_id="reads")
    assert first == {"products": False, "parts": False, "users": True, "orders": True}, first
    assert short.status == 409 and short.json["details"][0]["available"] == 3
    assert [r["products"] for r in reads] == [False, True], reads


def test_the_sweep_releases_expired_holds_of_a_sharded_product(api, tokens, frozen):
    from chalicelib.inventory import holds

    add_product(api, tokens["admin"], "F", stock=12)
    shard(api, tokens["admin"], "F", 3)
    made = hold(api, tokens["customer"], [("F", 7)], ttl_seconds=5)  # spans parts
    assert made.status == 201, made.json
    assert shown(api, tokens["admin"], "F")["held"] == 7
    frozen.time += 6
    assert holds.release_expired() == 1
    body = shown(api, tokens["admin"], "F")
    assert (body["stock"], body["held"], body["available"]) == (12, 0, 12)
    assert_parts_exact("F")


# ---- races and sizes (review findings) --------------------------------------------------------


def stale_first_read(monkeypatch: pytest.MonkeyPatch, module: Any, before: Any) -> None:
    """The module's first read_batch answers `before` (read earlier): what a write planned on
    a read sees when other writes commit between its read and its commit."""
    real = module.read_batch
    calls = iter(range(10**6))

    def read(*args: Any, **kwargs: Any) -> Any:
        return before if next(calls) == 0 else real(*args, **kwargs)

    monkeypatch.setattr(module, "read_batch", read)


def test_a_count_never_goes_below_what_a_hold_landed_meanwhile(api, tokens, monkeypatch):
    """Read, a hold lands, then the count commits: it must not leave held above stock."""
    from chalicelib.inventory import adjustments, stock
    from chalicelib.store.transact import read_batch

    monkeypatch.setattr(stock.random, "choice", lambda parts: parts[0])  # the count takes part 0
    add_product(api, tokens["admin"], "F", stock=20)
    shard(api, tokens["admin"], "F", 2)  # 10 and 10
    before = read_batch(["F"])
    assert hold(api, tokens["customer"], [("F", 15)]).status == 201
    stale_first_read(monkeypatch, adjustments, before)
    reply = api.call(
        "POST", f"{PRODUCTS}/F/adjustments", {"set_to": 10, "reason": "count"}, tokens["staff"]
    )
    assert reply.status == 409 and reply.json["code"] == "insufficient_stock", reply.json
    body = shown(api, tokens["admin"], "F")
    assert (body["stock"], body["held"]) == (20, 15)
    assert_parts_exact("F")


def test_a_count_equal_to_the_stock_records_a_movement_of_zero(api, tokens):
    add_product(api, tokens["admin"], "F", stock=20)
    shard(api, tokens["admin"], "F", 4)
    for _ in range(4):  # whichever part a plan would have picked
        reply = api.call(
            "POST", f"{PRODUCTS}/F/adjustments", {"set_to": 20, "reason": "count"}, tokens["staff"]
        )
        assert reply.status == 201 and reply.json["stock"] == 20, reply.json
        assert shard(api, tokens["admin"], "F", 4, method="PUT")["stock"] == 20
    assert [m.quantity_change for m in movements("F") if m.kind == "adjustment"] == [0] * 4
    assert_ledger("F")


def test_a_sale_planned_before_a_resize_is_planned_again(api, tokens, monkeypatch):
    from chalicelib.inventory import idempotency
    from chalicelib.store.transact import read_batch

    add_product(api, tokens["admin"], "F", stock=100)
    me = api.call("GET", "/auth/me", token=tokens["customer"]).json
    before = read_batch(["F"], [me["id"]])  # unsharded
    shard(api, tokens["admin"], "F", 4)  # part 0 now holds 25
    stale_first_read(monkeypatch, idempotency, before)
    reply = order(api, tokens["customer"], [("F", 50)])
    assert reply.status == 201, reply.json
    assert shown(api, tokens["admin"], "F")["stock"] == 50
    assert_ledger("F")
    assert_parts_exact("F")


def test_lines_over_many_parts_are_gathered_rather_than_too_large(api, tokens):
    """Two lines of 100 over 64 parts of 2 would be 200 items: their units are gathered into one
    part each (no movement), and the order, then a hold and its conversion, go through."""
    for sku in ("F", "G"):
        add_product(api, tokens["admin"], sku, stock=256)
        shard(api, tokens["admin"], sku, 64)
    made = order(api, tokens["customer"], [("F", 100), ("G", 100)])
    assert made.status == 201, made.json
    kept = hold(api, tokens["customer"], [("F", 60), ("G", 60)])
    assert kept.status == 201, kept.json
    assert convert(api, tokens["customer"], kept.json["id"]).status == 201
    for sku in ("F", "G"):
        body = shown(api, tokens["admin"], sku)
        assert (body["stock"], body["held"]) == (96, 0), body
        assert_ledger(sku)
        assert_parts_exact(sku)
