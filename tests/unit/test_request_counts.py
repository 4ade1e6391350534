"""DynamoDB requests per API call, counted with a botocore hook on the one shared client.

A successful sale is one BatchGetItem and one TransactWriteItems, whatever the number of lines;
a list that promises an order is a Query, never a Scan. So is a hold; its conversion and its
release read the hold first (one GetItem); the sweep of expired holds is a Query per expiry shard,
then per 100 holds two BatchGetItem (the holds, their products) and a transaction per hold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from chalicelib.store import db
from tests.unit.helpers import HOLDS, add_product, buy, convert, hold, make_user, order

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
    # stock=low: a Query per shard of low_stock, and one of by_sharding (products in parts).
    for query, queries in (("", 1), ("sort=name", 1), ("q=anv", 2), ("stock=low", shards + 1)):
        with counted() as seen:
            reply = api.call("GET", f"/products?{query}&limit=2", token=tokens["customer"])
        assert reply.status == 200
        assert seen == {"Query": queries, "BatchGetItem": 1}, (query, seen)


# ---- holds -------------------------------------------------------------------------------------

EXPIRED = 5  # holds the sweep finds expired


def sweep(api: Any, admin: str) -> int:
    reply = api.call("POST", "/holds/release-expired", token=admin)
    assert reply.status == 200, reply.json
    return reply.json["released"]


def expiry_shard(hold_id: str) -> int:
    from chalicelib.store.models import Hold

    return int(Hold.get(hold_id, consistent_read=True).expiry_shard)


def test_a_hold_is_one_batch_read_and_one_transaction(api, tokens, counted):
    for i in range(25):
        add_product(api, tokens["admin"], f"H{i}", stock=100)
    customer_id, _ = make_user("customer")
    cases = [
        ("one line", tokens["customer"], [("H0", 1)], {}, {}),
        ("25 lines", tokens["customer"], [(f"H{i}", 1) for i in range(25)], {}, {}),
        ("for a customer", tokens["staff"], [("H1", 1)], {"customer_id": customer_id}, {}),
        ("with a key", tokens["admin"], [("H2", 1)], {}, {"Idempotency-Key": "hold-1"}),
        ("with a ttl", tokens["admin"], [("H3", 1)], {"ttl_seconds": 60}, {}),
    ]
    for name, token, items, extra, headers in cases:
        with counted() as seen:
            reply = hold(api, token, items, headers=headers, **extra)
        assert reply.status == 201, (name, reply.json)
        assert seen == Counter({"BatchGetItem": 1, "TransactWriteItems": 1}), (name, seen)


def test_a_hold_replay_and_refusal_take_few_requests(api, tokens, counted):
    add_product(api, tokens["admin"], "A", stock=1)
    key = {"Idempotency-Key": "hold-2"}
    assert hold(api, tokens["customer"], [("A", 1)], headers=key).status == 201
    with counted() as seen:  # the marker in the batch, then the hold it names (is it released?)
        assert hold(api, tokens["customer"], [("A", 1)], headers=key).status == 200
    assert seen == Counter({"BatchGetItem": 1, "GetItem": 1}), seen
    with counted() as seen:  # the batched read already shows nothing is available
        reply = hold(api, tokens["customer"], [("A", 1)])
    assert reply.status == 409 and reply.json["code"] == "insufficient_stock", reply.json
    assert seen == Counter({"BatchGetItem": 1}), seen
    with counted() as seen:
        assert hold(api, tokens["customer"], [("A", 1), ("A", 1)]).status == 400
    assert not seen


def test_a_conversion_is_a_read_a_batch_read_and_a_transaction(api, tokens, counted):
    """Whatever the lines: the hold (its skus), one BatchGetItem, one TransactWriteItems."""
    for i in range(25):
        add_product(api, tokens["admin"], f"C{i}", stock=100)
    cases = [
        ("one line", tokens["customer"], [("C0", 1)], {}),
        ("25 lines", tokens["admin"], [(f"C{i}", 2) for i in range(25)], {}),
        ("with a key", tokens["customer"], [("C1", 1)], {"Idempotency-Key": "convert-1"}),
    ]
    for name, token, items, headers in cases:
        held = hold(api, token, items)
        assert held.status == 201, (name, held.json)
        with counted() as seen:
            reply = convert(api, token, held.json["id"], headers=headers)
        assert reply.status == 201, (name, reply.json)
        assert reply.json["hold_id"] == held.json["id"], name
        assert len(reply.json["items"]) == len(items), name
        expected = Counter({"GetItem": 1, "BatchGetItem": 1, "TransactWriteItems": 1})
        assert seen == expected, (name, seen)


def test_a_release_is_a_read_a_batch_read_and_a_transaction(api, tokens, counted):
    for i in range(25):
        add_product(api, tokens["admin"], f"R{i}", stock=100)
    cases = [
        ("one line", tokens["customer"], [("R0", 1)]),
        ("25 lines", tokens["admin"], [(f"R{i}", 3) for i in range(25)]),
    ]
    for name, token, items in cases:
        held = hold(api, token, items)
        assert held.status == 201, (name, held.json)
        with counted() as seen:
            reply = api.call("DELETE", f"{HOLDS}/{held.json['id']}", token=token)
        assert reply.status == 204, (name, reply.json)
        assert seen == Counter({"GetItem": 1, "BatchGetItem": 1, "TransactWriteItems": 1}), (
            name,
            seen,
        )
        assert api.call("GET", "/products/R0", token=token).json["held"] == 0, name


def expiring_holds(api: Any, admin: str, frozen: Any, spread: bool = False) -> list[str]:
    """EXPIRED holds of one line each (5 s, the least a hold may ask), then the clock moved past
    them; `spread`: more until they lie in at least two expiry shards."""
    for i in range(EXPIRED):
        add_product(api, admin, f"E{i}", stock=100)
    ids: list[str] = []
    while len(ids) < EXPIRED or (spread and len({expiry_shard(i) for i in ids}) < 2):
        reply = hold(api, admin, [(f"E{len(ids) % EXPIRED}", 1)], ttl_seconds=5)
        assert reply.status == 201, reply.json
        ids.append(reply.json["id"])
    frozen.time += 6
    return ids


def test_a_sweep_is_a_query_per_shard_and_a_transaction_per_expired_hold(
    api, tokens, counted, frozen
):
    from chalicelib.settings import get_settings

    shards = get_settings().hold_shards
    add_product(api, tokens["admin"], "LIVE", stock=10)
    assert hold(api, tokens["admin"], [("LIVE", 1)]).status == 201  # 900 s: not expired
    with counted() as seen:  # nothing expired: only the shards of the sparse index
        assert sweep(api, tokens["admin"]) == 0
    assert seen == Counter({"Query": shards}), seen
    ids = expiring_holds(api, tokens["admin"], frozen)
    with counted() as seen:
        assert sweep(api, tokens["admin"]) == len(ids)
    assert seen["Query"] == shards, seen
    assert seen["TransactWriteItems"] == len(ids), seen
    assert seen["BatchGetItem"] >= 2, seen  # the holds, then their products
    assert set(seen) == {"Query", "BatchGetItem", "TransactWriteItems"}, seen
    with counted() as seen:  # released: gone from the index
        assert sweep(api, tokens["admin"]) == 0
    assert seen == Counter({"Query": shards}), seen


def test_a_sweep_reads_its_expired_holds_in_one_batch_and_their_products_in_another(
    api, tokens, counted, frozen
):
    """Shards Queries + (per 100 holds) one BatchGetItem of the holds and one of their products
    + a transaction per hold, wherever the holds' shards fall."""
    from chalicelib.settings import get_settings

    shards = get_settings().hold_shards
    ids = expiring_holds(api, tokens["admin"], frozen, spread=True)
    with counted() as seen:
        assert sweep(api, tokens["admin"]) == len(ids)
    expected = {"Query": shards, "BatchGetItem": 2, "TransactWriteItems": len(ids)}
    assert seen == Counter(expected), seen


HOLD_LISTS = [  # (path, role, Queries of the first page given the shards; None: may read on)
    (HOLDS, "admin", lambda shards: 3 * shards),  # per stored status (active, converted,
    # released) and shard
    (HOLDS + "?customer_id={customer}", "admin", lambda shards: 1),
    (HOLDS + "?status=converted", "admin", lambda shards: shards),  # a Query per shard
    (HOLDS + "?status=released", "admin", lambda shards: shards),
    (HOLDS + "?status=active", "admin", None),
    (HOLDS + "?status=expired", "admin", None),
    (HOLDS, "staff", lambda shards: 2),  # theirs as customer and as recorder
    (HOLDS, "customer", lambda shards: 1),
    (HOLDS + "?status=expired", "customer", None),
]


def test_hold_lists_are_queries_never_a_scan(api, tokens, counted, frozen):
    from chalicelib.settings import get_settings

    shards = get_settings().hold_shards
    me = api.call("GET", "/auth/me", token=tokens["customer"]).json
    add_product(api, tokens["admin"], "A", stock=100)
    for role in ("admin", "staff", "customer"):  # an expired, a converted, a released, an active
        assert hold(api, tokens[role], [("A", 1)], ttl_seconds=5).status == 201
        made = hold(api, tokens[role], [("A", 1)]).json["id"]
        assert convert(api, tokens[role], made).status == 201
        made = hold(api, tokens[role], [("A", 1)]).json["id"]
        assert api.call("DELETE", f"{HOLDS}/{made}", token=tokens[role]).status == 204
    frozen.time += 6
    for role in ("admin", "staff", "customer"):
        assert hold(api, tokens[role], [("A", 1)]).status == 201
    for path, role, queries in HOLD_LISTS:
        path = path.format(customer=me["id"])
        sep = "&" if "?" in path else "?"
        with counted() as seen:
            reply = api.call("GET", f"{path}{sep}limit=1", token=tokens[role])
        assert reply.status == 200, (path, role, reply.json)
        assert reply.json["items"], (path, role)
        assert "Scan" not in seen and set(seen) == {"Query"}, (path, role, seen)
        if queries is not None:
            assert seen["Query"] == queries(shards), (path, role, seen)
        if reply.json["next_cursor"]:
            with counted() as seen:
                follow = api.call(
                    "GET",
                    f"{path}{sep}limit=1&cursor={reply.json['next_cursor']}",
                    token=tokens[role],
                )
            assert follow.status == 200, (path, role)
            assert "Scan" not in seen and set(seen) == {"Query"}, (path, role, seen)


def test_reading_a_hold_is_one_get(api, tokens, counted):
    add_product(api, tokens["admin"], "A", stock=10)
    made = hold(api, tokens["customer"], [("A", 2)]).json["id"]
    for role in ("customer", "admin"):
        with counted() as seen:
            reply = api.call("GET", f"{HOLDS}/{made}", token=tokens[role])
        assert reply.status == 200 and reply.json["status"] == "active", (role, reply.json)
        assert seen == Counter({"GetItem": 1}), (role, seen)
