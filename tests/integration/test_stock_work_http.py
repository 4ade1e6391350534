"""The catalog's pages, adjustments and returns over HTTP against the local stack (both
backends), concurrency included."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.stack import all_pages, ledger_sum, new_user


def tag() -> str:
    """A prefix of this test's own products: the stack is shared by the whole session."""
    return f"T{uuid.uuid4().hex[:6]}"


def add(http, admin, sku: str, name: str, stock: int, threshold: int = 0) -> None:
    body = {
        "sku": sku,
        "name": name,
        "price": "3.00",
        "stock": stock,
        "low_stock_threshold": threshold,
    }
    reply = http.call("POST", "/products", body, admin)
    assert reply.status == 201, reply.json


def listed(http, token: str, query: str, limit: int = 2) -> list[str]:
    items, cursor = [], None
    while True:
        page = f"/products?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        reply = http.call("GET", page, token=token)
        assert reply.status == 200, reply.json
        items += [item["sku"] for item in reply.json["items"]]
        cursor = reply.json["next_cursor"]
        if cursor is None:
            return items


def test_catalog_order_search_and_filters_over_several_pages(http, admin):
    t = tag()
    rows = [  # sku, name, stock, threshold
        (f"{t}-b", f"{t} zeta", 9, 2),
        (f"{t}-A", f"{t} Alpha", 1, 2),
        (f"{t.lower()}-c", f"{t.upper()} alpha", 0, 0),
        (f"{t}-D", f"{t} beta", 0, 3),
        (f"Q{t}", f"{t.lower()} Gamma", 5, 9),  # found by its name only
    ]
    for sku, name, stock, threshold in rows:
        add(http, admin, sku, name, stock, threshold)
    _, customer = new_user(http, admin, "customer")
    by_sku = sorted(r[0] for r in rows)
    by_name = [r[0] for r in sorted(rows, key=lambda r: (r[1].lower(), r[0]))]
    assert listed(http, customer, f"q={t}") == by_sku
    assert listed(http, customer, f"q={t.lower()}&sort=name", limit=1) == by_name
    low = [r[0] for r in rows if r[2] < r[3]]
    assert listed(http, customer, f"q={t}&stock=low") == sorted(low)
    assert listed(http, customer, f"q={t}&stock=out&sort=name") == [
        r[0] for r in sorted(rows, key=lambda r: (r[1].lower(), r[0])) if r[2] == 0
    ]
    whole = [p["sku"] for p in all_pages(http, "/products", customer)]
    assert whole == sorted(whole) and set(by_sku) <= set(whole)
    first = http.call("GET", f"/products?q={t}&limit=1", token=customer).json
    wrong = http.call(
        "GET", f"/products?q={t}&sort=name&cursor={first['next_cursor']}", token=customer
    )
    assert wrong.status == 400 and wrong.json["code"] == "validation_error"
    assert http.call("GET", "/products?stock=gone", token=customer).status == 400
    for odd in ("%00", f"{t}%00", "%F0%9F%94%A9"):  # NUL is the keys' separator: still a search
        reply = http.call("GET", f"/products?q={odd}", token=customer)
        assert reply.status == 200 and reply.json["items"] == [], odd


def test_adjustments_racing_sales_keep_the_ledger_exact(http, admin):
    sku = f"{tag()}-ADJ"
    add(http, admin, sku, "Raced", 200)
    _, staff = new_user(http, admin, "staff")
    _, customer = new_user(http, admin, "customer")

    def sell(_: int) -> int:
        body = {"items": [{"sku": sku, "quantity": 1}]}
        return http.call("POST", "/sales-orders", body, customer).status

    def count(number: int) -> int:
        seen = http.call("GET", f"/products/{sku}", token=staff).json["stock"]
        body = {"change": -1, "expected_stock": seen, "reason": "damaged", "note": f"n{number}"}
        return http.call("POST", f"/products/{sku}/adjustments", body, staff).status

    with ThreadPoolExecutor(max_workers=8) as pool:
        sales = pool.map(sell, range(24))
        counts = pool.map(count, range(24))
        sold, counted = list(sales), list(counts)
    assert set(sold) == {201}, sold  # a sale never loses to a count
    assert set(counted) <= {201, 409, 503}, counted
    stock = http.call("GET", f"/products/{sku}", token=admin).json["stock"]
    assert stock == 200 - 24 - counted.count(201)
    assert ledger_sum(http, admin, sku) == stock
    moves = all_pages(http, f"/products/{sku}/movements", admin)
    adjusted = [m for m in moves if m["kind"] == "adjustment"]
    assert len(adjusted) == counted.count(201)
    assert all(m["reason"] == "damaged" and m["actor"] for m in adjusted)


def test_returns_racing_each_other_and_a_cancellation(http, admin):
    sku = f"{tag()}-RET"
    add(http, admin, sku, "Returned", 50)
    _, staff = new_user(http, admin, "staff")
    _, customer = new_user(http, admin, "customer")
    orders = []
    for _ in range(2):
        reply = http.call(
            "POST", "/sales-orders", {"items": [{"sku": sku, "quantity": 6}]}, customer
        )
        assert reply.status == 201
        orders.append(reply.json["id"])
    kept, cancelled = orders

    def give_back(order_id: str) -> int:
        body = {"items": [{"sku": sku, "quantity": 2, "restock": True}]}
        return http.call("POST", f"/sales-orders/{order_id}/returns", body, staff).status

    with ThreadPoolExecutor(max_workers=8) as pool:
        kept_returns = pool.map(give_back, [kept] * 5)
        racing = pool.map(give_back, [cancelled] * 3)
        cancel = pool.submit(http.call, "DELETE", f"/sales-orders/{cancelled}", None, admin)
        kept_statuses, racing_statuses = list(kept_returns), list(racing)
        assert cancel.result().status == 204
    assert sorted(kept_statuses) == [201, 201, 201, 409, 409], kept_statuses
    assert set(racing_statuses) <= {201, 404}, racing_statuses
    order = http.call("GET", f"/sales-orders/{kept}", token=admin).json
    assert order["status"] == "returned" and order["items"][0]["returned"] == 6
    # Every unit of both orders is back once: 6 returned, 6 returned or cancelled.
    stock = http.call("GET", f"/products/{sku}", token=admin).json["stock"]
    assert stock == 50
    assert ledger_sum(http, admin, sku) == stock
