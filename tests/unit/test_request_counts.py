"""DynamoDB requests per API call, counted with a botocore hook on the one shared client.

A successful sale is one BatchGetItem and one TransactWriteItems, whatever the number of lines;
a list that promises an order is a Query, never a Scan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from chalicelib.store import db
from tests.unit.helpers import add_product, buy, make_user, order

MAX_SALE_REQUESTS = 2


@pytest.fixture()
def counted(api: Any) -> Any:
    """counted() -> context manager yielding a Counter of DynamoDB operation names."""

    @contextmanager
    def counting() -> Iterator[Counter]:
        seen: Counter = Counter()

        def count(model: Any, **_: Any) -> None:
            seen[model.name] += 1

        events = db.client().meta.events
        events.register("before-call.dynamodb", count, unique_id="request-counter")
        try:
            yield seen
        finally:
            events.unregister("before-call.dynamodb", unique_id="request-counter")

    api.call("GET", "/health")  # bind the models (DescribeTable) before counting
    return counting


def test_a_sale_is_one_batch_read_and_one_transaction(api, tokens, counted):
    for i in range(25):
        add_product(api, tokens["admin"], f"S{i}", stock=100, threshold=50)
    customer_id, _ = make_user("customer")
    cases = [
        ("one line", tokens["customer"], [("S0", 1)], {}, {}),
        ("25 lines", tokens["customer"], [(f"S{i}", 1) for i in range(25)], {}, {}),
        ("for a customer", tokens["staff"], [("S1", 1)], {"customer_id": customer_id}, {}),
        ("with a key", tokens["admin"], [("S2", 1)], {}, {"Idempotency-Key": "count-1"}),
        ("making products low", tokens["admin"], [("S3", 60), ("S4", 60)], {}, {}),
    ]
    for name, token, items, extra, headers in cases:
        with counted() as seen:
            reply = order(api, token, items, headers, **extra)
        assert reply.status == 201, (name, reply.json)
        assert sum(seen.values()) <= MAX_SALE_REQUESTS, (name, seen)
        assert seen == Counter({"BatchGetItem": 1, "TransactWriteItems": 1}), (name, seen)


def test_a_replay_and_refusals_take_few_requests(api, tokens, counted):
    add_product(api, tokens["admin"], "A", stock=1)
    key = {"Idempotency-Key": "count-2"}
    assert order(api, tokens["customer"], [("A", 1)], key).status == 201
    with counted() as seen:
        assert order(api, tokens["customer"], [("A", 1)], key).status == 200
    assert seen == Counter({"BatchGetItem": 1, "GetItem": 1}), seen
    with counted() as seen:  # the batched read already shows the shortage: no transaction
        assert order(api, tokens["customer"], [("A", 1)]).status == 409
    assert seen == Counter({"BatchGetItem": 1}), seen
    with counted() as seen:
        assert order(api, tokens["customer"], [("A", 1), ("A", 1)]).status == 400
    assert not seen


def test_a_purchase_is_one_batch_read_and_one_transaction(api, tokens, counted):
    add_product(api, tokens["admin"], "A", stock=10)
    with counted() as seen:
        reply = buy(api, tokens["staff"], quantity=1, headers={"Idempotency-Key": "po"})
    assert reply.status == 201
    assert seen == Counter({"BatchGetItem": 1, "TransactWriteItems": 1}), seen


LISTS = [
    ("/sales-orders", "admin"),
    ("/sales-orders?customer_id={customer}", "admin"),
    ("/sales-orders", "staff"),
    ("/sales-orders", "customer"),
    ("/purchase-orders", "staff"),
    ("/products/A/movements", "staff"),
    ("/users", "admin"),
    ("/users?role=staff", "admin"),
    ("/notifications", "admin"),
    ("/notifications?status=open", "admin"),
]


def test_lists_that_promise_an_order_never_scan(api, tokens, counted):
    add_product(api, tokens["admin"], "A", stock=10, threshold=20)  # low: a notification
    me = api.call("GET", "/auth/me", token=tokens["customer"]).json
    for role in ("admin", "staff", "customer"):
        order(api, tokens[role], [("A", 1)])
    api.call(
        "POST",
        "/purchase-orders",
        {"sku": "A", "quantity": 1, "supplier_name": "S"},
        tokens["staff"],
    )
    for path, role in LISTS:
        path = path.format(customer=me["id"])
        with counted() as seen:
            reply = api.call(
                "GET", path + ("&" if "?" in path else "?") + "limit=1", token=tokens[role]
            )
            assert reply.status == 200, (path, reply.json)
            assert reply.json["items"], path
            if reply.json["next_cursor"]:
                follow = api.call(
                    "GET",
                    f"{path}{'&' if '?' in path else '?'}limit=1&cursor="
                    f"{reply.json['next_cursor']}",
                    token=tokens[role],
                )
                assert follow.status == 200, path
        assert "Scan" not in seen and seen["Query"] >= 1, (path, seen)


def test_a_stock_adjustment_is_one_read_and_one_transaction(api, tokens, counted):
    add_product(api, tokens["admin"], "ADJ", stock=100, threshold=5)
    with counted() as seen:
        reply = api.call(
            "PATCH", "/products/ADJ", {"stock": 40, "name": "Adjusted"}, tokens["admin"]
        )
    assert reply.status == 200 and reply.json["stock"] == 40 and reply.json["name"] == "Adjusted"
    assert seen == Counter({"BatchGetItem": 1, "TransactWriteItems": 1})
    body = {"change": -2, "expected_stock": 40, "reason": "damaged"}
    key = {"Idempotency-Key": "adj-1"}
    with counted() as seen:  # the marker is read in the same batch as the product
        reply = api.call("POST", "/products/ADJ/adjustments", body, tokens["staff"], headers=key)
    assert reply.status == 201 and reply.json["stock"] == 38
    assert seen == Counter({"BatchGetItem": 1, "TransactWriteItems": 1})


def test_a_search_never_scans(api, tokens, counted):
    """Each query shape costs a fixed number of requests: Queries of its indexes, then one
    BatchGetItem of the page's products."""
    from chalicelib.settings import get_settings

    shards = get_settings().low_stock_shards
    for sku in ("ANV-1", "anvil-2", "B-1"):
        add_product(api, tokens["admin"], sku, stock=1, threshold=3)
    for query, queries in (("", 1), ("sort=name", 1), ("q=anv", 2), ("stock=low", shards)):
        with counted() as seen:
            reply = api.call("GET", f"/products?{query}&limit=2", token=tokens["customer"])
        assert reply.status == 200
        assert seen == {"Query": queries, "BatchGetItem": 1}, (query, seen)
