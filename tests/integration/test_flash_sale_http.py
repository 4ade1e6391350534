"""Flash sales over HTTP against the local stack (both backends): a sku in `stock_shards` parts
keeps every rule of the contract under concurrency: no oversell, the exact ledger, holds, returns,
adjustments, one low-stock episode, totals in every read, and a resize while orders run."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.stack import Http, all_pages, ledger_sum, new_user

CLIENTS = 16


def make_product(http: Http, admin: str, stock: int, threshold: int = 0, shards: int = 8) -> str:
    sku = f"FLS-{uuid.uuid4().hex[:10]}"
    body = {
        "sku": sku,
        "name": f"Flash {sku}",
        "description": "d" * 2000,  # the product item is part 0: as large as it gets
        "price": "9.99",
        "stock": stock,
        "low_stock_threshold": threshold,
    }
    assert http.call("POST", "/products", body, admin).status == 201
    reply = http.call("PATCH", f"/products/{sku}", {"stock_shards": shards}, admin)
    assert reply.status == 200 and reply.json["stock_shards"] == shards, reply.json
    return sku


def product(http: Http, token: str, sku: str) -> dict:
    reply = http.call("GET", f"/products/{sku}", token=token)
    assert reply.status == 200, reply.json
    body = reply.json
    assert body["available"] == body["stock"] - body["held"] and body["held"] >= 0, body
    return body


def exact(http: Http, admin: str, sku: str) -> dict:
    """The product, its ledger checked: stock == sum(movements)."""
    body = product(http, admin, sku)
    assert ledger_sum(http, admin, sku) == body["stock"], body
    return body


def many(calls: list[Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


def order(http: Http, token: str, sku: str, quantity: int) -> Any:
    body = {"items": [{"sku": sku, "quantity": quantity}]}
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    return http.call("POST", "/sales-orders", body, token, headers=headers)


def test_no_oversell_with_parts_under_concurrency(http, admin):
    sku = make_product(http, admin, stock=24)
    _, customer = new_user(http, admin, "customer")
    wanted = [random.choice((1, 2, 3)) for _ in range(32)]  # about 64 units for 24
    replies = many([lambda q=q: order(http, customer, sku, q) for q in wanted])
    statuses = Counter(reply.status for reply in replies)
    assert set(statuses) <= {201, 409, 503}, statuses
    sold = sum(q for q, reply in zip(wanted, replies, strict=True) if reply.status == 201)
    body = exact(http, admin, sku)
    assert body["stock"] == 24 - sold >= 0, (body, statuses)
    refused = [q for q, reply in zip(wanted, replies, strict=True) if reply.status == 409]
    if refused:  # refused only when fewer units were left than asked: stock only falls
        assert body["stock"] < min(refused), (body, refused)
    for reply in replies:
        if reply.status == 409:
            assert reply.json["code"] == "insufficient_stock"
        if reply.status == 503:
            assert reply.json["code"] == "busy" and reply.headers.get("Retry-After")


def test_holds_returns_and_adjustments_with_parts(http, admin):
    sku = make_product(http, admin, stock=30, shards=4)
    _, customer = new_user(http, admin, "customer")
    holds = [
        http.call("POST", "/holds", {"items": [{"sku": sku, "quantity": 4}]}, customer)
        for _ in range(3)
    ]
    assert [h.status for h in holds] == [201, 201, 201]
    assert (product(http, admin, sku)["held"], product(http, admin, sku)["available"]) == (12, 18)
    assert http.call("PATCH", f"/products/{sku}", {"stock_shards": 2}, admin).status == 200
    converted = http.call("POST", "/sales-orders", {"hold_id": holds[0].json["id"]}, customer)
    assert converted.status == 201, converted.json
    assert http.call("DELETE", f"/holds/{holds[1].json['id']}", token=customer).status == 204
    assert http.call("PATCH", f"/products/{sku}", {"stock_shards": 6}, admin).status == 200
    assert http.call("DELETE", f"/holds/{holds[2].json['id']}", token=customer).status == 204
    body = exact(http, admin, sku)
    assert (body["stock"], body["held"], body["stock_shards"]) == (26, 0, 6)
    back = http.call(
        "POST",
        f"/sales-orders/{converted.json['id']}/returns",
        {"items": [{"sku": sku, "quantity": 3, "restock": True}]},
        admin,
    )
    assert back.status == 201, back.json
    path = f"/products/{sku}/adjustments"
    counted = {"set_to": 50, "expected_stock": 29, "reason": "count"}
    assert http.call("POST", path, counted, admin).json["stock"] == 50
    stale = http.call("POST", path, counted, admin, headers={"Idempotency-Key": "x"})
    assert stale.status == 409 and stale.json["code"] == "stock_changed"
    minus = http.call("POST", path, {"change": -45, "reason": "damaged"}, admin)
    assert minus.status == 201 and minus.json["stock"] == 5
    assert exact(http, admin, sku)["stock"] == 5


def test_one_low_stock_episode_for_a_sharded_sku_sold_out_at_once(http, admin):
    sku = make_product(http, admin, stock=24, threshold=15)
    _, customer = new_user(http, admin, "customer")
    replies = many([lambda: order(http, customer, sku, 1) for _ in range(32)])
    assert {r.status for r in replies} <= {201, 409, 503}
    assert http.call("POST", "/notifications/check", token=admin).status == 200
    mine = [n for n in all_pages(http, "/notifications", admin) if n["sku"] == sku]
    assert len(mine) == 1 and mine[0]["status"] == "open", mine
    low = http.call("GET", f"/products?stock=low&q={sku}", token=admin).json["items"]
    assert [p["sku"] for p in low] == [sku]
    body = {"sku": sku, "quantity": 40, "supplier_name": "Acme"}
    assert http.call("POST", "/purchase-orders", body, admin).status == 201
    mine = [n for n in all_pages(http, "/notifications", admin) if n["sku"] == sku]
    assert [n["status"] for n in mine] == ["resolved"], mine
    assert exact(http, admin, sku)["available"] >= 15


def test_changing_stock_shards_while_orders_run_loses_nothing(http, admin):
    sku = make_product(http, admin, stock=300, shards=2)
    _, customer = new_user(http, admin, "customer")

    def resize(shards: int) -> Any:
        return http.call("PATCH", f"/products/{sku}", {"stock_shards": shards}, admin)

    calls: list[Any] = [lambda: order(http, customer, sku, 1) for _ in range(40)]
    for index, shards in enumerate((16, 3, 32, 1, 8)):
        calls.insert(index * 8, lambda n=shards: resize(n))
    replies = many(calls)
    statuses = Counter(reply.status for reply in replies)
    assert set(statuses) <= {200, 201, 503}, statuses
    body = exact(http, admin, sku)
    assert body["stock"] == 300 - statuses[201] and body["held"] == 0, (body, statuses)
