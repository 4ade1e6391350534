"""Sales and purchase orders over HTTP against the local stack, concurrency included."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tests.stack import ledger_sum, new_user


def make_product(http, admin, stock: int, price: str = "2.50", threshold: int = 0) -> str:
    sku = f"ORD-{uuid.uuid4().hex[:10]}"
    body = {
        "sku": sku,
        "name": f"Item {sku}",
        "price": price,
        "stock": stock,
        "low_stock_threshold": threshold,
    }
    assert http.call("POST", "/products", body, admin).status == 201
    return sku


def stock_of(http, admin, sku: str) -> int:
    return http.call("GET", f"/products/{sku}", token=admin).json["stock"]


def test_order_life_over_http(http, admin):
    sku = make_product(http, admin, stock=10, price="19.99")
    customer_id, customer = new_user(http, admin, "customer")
    _, other = new_user(http, admin, "customer")
    order = http.call(
        "POST",
        "/sales-orders",
        {"items": [{"sku": sku, "quantity": 3}]},
        customer,
        headers={"Idempotency-Key": "order-1"},
    )
    assert order.status == 201 and order.json["total"] == "59.97"
    assert order.json["customer"]["id"] == customer_id
    replay = http.call(
        "POST",
        "/sales-orders",
        {"items": [{"sku": sku, "quantity": 3}]},
        customer,
        headers={"Idempotency-Key": "order-1"},
    )
    assert replay.status == 200 and replay.json["id"] == order.json["id"]
    reused = http.call(
        "POST",
        "/sales-orders",
        {"items": [{"sku": sku, "quantity": 4}]},
        customer,
        headers={"Idempotency-Key": "order-1"},
    )
    assert reused.status == 409 and reused.json["code"] == "idempotency_key_reused"
    assert stock_of(http, admin, sku) == 7
    assert http.call("GET", f"/sales-orders/{order.json['id']}", token=other).status == 404
    short = http.call("POST", "/sales-orders", {"items": [{"sku": sku, "quantity": 8}]}, customer)
    assert short.status == 409
    assert short.json["details"] == [{"sku": sku, "requested": 8, "available": 7}]
    assert http.call("DELETE", f"/sales-orders/{order.json['id']}", token=admin).status == 204
    assert stock_of(http, admin, sku) == 10 == ledger_sum(http, admin, sku)


def test_200_concurrent_orders_from_16_clients_sell_exactly_the_stock(http, admin):
    sku = make_product(http, admin, stock=50)
    buyers = [new_user(http, admin, "customer")[1] for _ in range(16)]

    def buy(n: int) -> int:
        return http.call(
            "POST", "/sales-orders", {"items": [{"sku": sku, "quantity": 1}]}, buyers[n % 16]
        ).status

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = Counter(pool.map(buy, range(200)))
    assert statuses == Counter({201: 50, 409: 150})
    assert stock_of(http, admin, sku) == 0 == ledger_sum(http, admin, sku)
    listed, cursor = 0, None
    while True:
        query = "?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = http.call("GET", f"/sales-orders{query}", token=admin).json
        listed += sum(1 for o in page["items"] if o["items"][0]["sku"] == sku)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert listed == 50  # every successful order is fully recorded


def test_mixed_purchases_sales_and_cancellations_keep_the_ledger(http, admin):
    skus = [make_product(http, admin, stock=20) for _ in range(3)]
    _, staff = new_user(http, admin, "staff")
    rng = random.Random(42)
    sold: list[str] = []

    def act(n: int) -> int:
        kind = n % 3
        if kind == 0:
            body = {"sku": rng.choice(skus), "quantity": rng.randint(1, 5), "supplier_name": "Acme"}
            return http.call("POST", "/purchase-orders", body, staff).status
        if kind == 1:
            lines = [{"sku": s, "quantity": rng.randint(1, 6)} for s in rng.sample(skus, 2)]
            reply = http.call("POST", "/sales-orders", {"items": lines}, staff)
            if reply.status == 201:
                sold.append(reply.json["id"])
            return reply.status
        if sold:
            return http.call("DELETE", f"/sales-orders/{sold.pop()}", token=admin).status
        return 204

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = Counter(pool.map(act, range(150)))
    assert set(statuses) <= {201, 204, 404, 409}, statuses
    assert statuses[201] > 0
    for sku in skus:
        stock = stock_of(http, admin, sku)
        assert stock >= 0
        assert stock == ledger_sum(http, admin, sku)
