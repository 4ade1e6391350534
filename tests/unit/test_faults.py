"""Real DynamoDB failure modes moto never produces, injected with botocore event hooks.

Transaction conflicts and throttling are retried with bounded, jittered backoff and then answered
503 with Retry-After; a transaction whose answer is lost after it committed is not applied twice.
Each test checks that nothing is lost or doubled: orders, stock, and stock == sum(movements).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse  # type: ignore[import-untyped]

from chalicelib.store import db
from tests.unit.helpers import (
    PURCHASES,
    add_product,
    all_items,
    assert_ledger,
    order,
    stock,
)


def fake_error(
    code: str, status: int = 400, reasons: list[str] | None = None
) -> tuple[AWSResponse, dict]:
    parsed: dict[str, Any] = {
        "Error": {"Code": code, "Message": f"injected {code}"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
    }
    if reasons is not None:
        parsed["CancellationReasons"] = [{"Code": reason} for reason in reasons]
    return AWSResponse("https://dynamodb.injected", status, {}, None), parsed


def conflict(params: dict) -> tuple[AWSResponse, dict]:
    """TransactionCanceledException whose first item met a concurrent transaction."""
    items = json.loads(params["body"])["TransactItems"]
    return fake_error(
        "TransactionCanceledException",
        reasons=["TransactionConflict"] + ["None"] * (len(items) - 1),
    )


def product_conflict(params: dict) -> tuple[AWSResponse, dict]:
    """TransactionCanceledException where the product's item met a concurrent transaction."""
    items = json.loads(params["body"])["TransactItems"]
    tables = [next(iter(item.values()))["TableName"] for item in items]
    return fake_error(
        "TransactionCanceledException",
        reasons=["TransactionConflict" if t.endswith("products") else "None" for t in tables],
    )


def throttled(_: dict) -> tuple[AWSResponse, dict]:
    return fake_error("ThrottlingException")


def read_throttled(_: dict) -> tuple[AWSResponse, dict]:
    return fake_error("ProvisionedThroughputExceededException")


def nothing_processed(params: dict) -> tuple[AWSResponse, dict]:
    """A BatchGetItem answer that leaves every key unprocessed (DynamoDB may, under load)."""
    request = json.loads(params["body"])["RequestItems"]
    return (
        AWSResponse("https://dynamodb.injected", 200, {}, None),
        {
            "Responses": {},
            "UnprocessedKeys": request,
            "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}},
        },
    )


class Faults:
    """Answer the first `times` calls of an operation with `make(params)`; count all calls."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self._hooks: list[tuple[str, str]] = []

    def inject(self, operation: str, make: Callable[[dict], Any], times: int) -> None:
        def hook(params: dict, **_: Any) -> Any:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            return make(params) if self.calls[operation] <= times else None

        self._register(f"before-call.dynamodb.{operation}", hook)

    def lose_answer(self, operation: str, times: int = 1) -> None:
        """Let the call happen, then report a 500 to the caller (the write did commit)."""
        lost = {"n": 0}

        def hook(http_response: Any, parsed: dict, **_: Any) -> None:
            if lost["n"] < times:
                lost["n"] += 1
                http_response.status_code = 500
                parsed["Error"] = {"Code": "InternalServerError", "Message": "injected"}

        self._register(f"after-call.dynamodb.{operation}", hook)

    def _register(self, event: str, hook: Callable) -> None:
        unique = f"fault-{len(self._hooks)}"
        db.client().meta.events.register_first(event, hook, unique_id=unique)
        self._hooks.append((event, unique))

    def clear(self) -> None:
        for event, unique in self._hooks:
            db.client().meta.events.unregister(event, unique_id=unique)


@pytest.fixture()
def faults(api: Any) -> Any:
    api.call("GET", "/health")
    injected = Faults()
    yield injected
    injected.clear()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the jittered sleeps, but tiny: the tests count attempts, not seconds."""
    real = db.with_retries
    monkeypatch.setattr(
        db, "with_retries", lambda op, attempts=5, base_delay=0.02: real(op, attempts, 0.001)
    )


def orders_listed(api: Any, token: str) -> list[dict]:
    return all_items(api, "/sales-orders", token, limit=100)


def test_transaction_conflicts_are_retried_and_sell_once(api, tokens, faults):
    add_product(api, tokens["admin"], "A", stock=10)
    faults.inject("TransactWriteItems", conflict, times=3)
    reply = order(api, tokens["customer"], [("A", 4)])
    assert reply.status == 201, reply.json
    assert faults.calls["TransactWriteItems"] == 4
    assert stock("A") == 6
    assert [o["id"] for o in orders_listed(api, tokens["admin"])] == [reply.json["id"]]
    assert_ledger("A")


def test_endless_throttling_is_503_with_retry_after_and_writes_nothing(api, tokens, faults):
    add_product(api, tokens["admin"], "A", stock=10)
    faults.inject("TransactWriteItems", throttled, times=1000)
    reply = order(api, tokens["customer"], [("A", 4)], {"Idempotency-Key": "t-1"})
    assert reply.status == 503 and reply.json["code"] == "busy"
    assert int(reply.headers["Retry-After"]) >= 1
    assert 1 < faults.calls["TransactWriteItems"] <= 10  # bounded
    assert stock("A") == 10 and orders_listed(api, tokens["admin"]) == []
    faults.clear()  # the client retries later with the same key: one order
    again = order(api, tokens["customer"], [("A", 4)], {"Idempotency-Key": "t-1"})
    assert again.status == 201 and stock("A") == 6
    assert_ledger("A")


def test_endless_conflicts_are_503_too(api, tokens, faults):
    add_product(api, tokens["admin"], "A", stock=10)
    faults.inject("TransactWriteItems", conflict, times=1000)
    reply = order(api, tokens["customer"], [("A", 1)])
    assert reply.status == 503 and "Retry-After" in reply.headers
    assert stock("A") == 10


def test_a_lost_answer_after_commit_does_not_sell_twice(api, tokens, faults):
    """The transaction committed, the caller saw a 500: the retry finds the order, not a new one."""
    add_product(api, tokens["admin"], "A", stock=10)
    faults.lose_answer("TransactWriteItems")
    reply = order(api, tokens["customer"], [("A", 10)])  # all of it: a re-sale would be a 409
    assert reply.status == 201, reply.json
    assert stock("A") == 0
    assert [o["id"] for o in orders_listed(api, tokens["admin"])] == [reply.json["id"]]
    assert_ledger("A")


def test_throttled_and_unprocessed_reads_are_read_again(api, tokens, faults):
    add_product(api, tokens["admin"], "A", stock=10)
    faults.inject("BatchGetItem", read_throttled, times=2)
    assert order(api, tokens["customer"], [("A", 1)]).status == 201
    assert faults.calls["BatchGetItem"] == 3
    faults.clear()
    faults = Faults()
    faults.inject("BatchGetItem", nothing_processed, times=2)
    try:
        reply = order(api, tokens["customer"], [("A", 2)])
    finally:
        faults.clear()
    assert reply.status == 201 and reply.json["total"] == "39.98"
    assert faults.calls["BatchGetItem"] == 3
    assert stock("A") == 7
    assert_ledger("A")


def test_conflicts_on_cancellation_give_stock_back_once(api, tokens, faults):
    add_product(api, tokens["admin"], "A", stock=10)
    made = order(api, tokens["customer"], [("A", 4)]).json
    faults.inject("TransactWriteItems", conflict, times=2)
    assert api.call("DELETE", f"/sales-orders/{made['id']}", token=tokens["admin"]).status == 204
    assert stock("A") == 10
    faults.clear()
    faults.lose_answer("TransactWriteItems")  # a retried cancellation after commit: 404, once
    made = order(api, tokens["customer"], [("A", 4)]).json
    reply = api.call("DELETE", f"/sales-orders/{made['id']}", token=tokens["admin"])
    assert reply.status in (204, 404) and stock("A") == 10
    assert_ledger("A")


def test_purchases_and_reversals_survive_conflicts_and_lost_answers(api, tokens, faults):
    add_product(api, tokens["admin"], "A", stock=0)
    faults.inject("TransactWriteItems", conflict, times=2)
    body = {"sku": "A", "quantity": 5, "supplier_name": "S"}
    made = api.call("POST", PURCHASES, body, tokens["staff"])
    assert made.status == 201 and stock("A") == 5
    faults.clear()
    faults.lose_answer("TransactWriteItems")
    again = api.call("POST", PURCHASES, body, tokens["staff"])
    assert again.status == 201 and stock("A") == 10
    assert len(all_items(api, PURCHASES, tokens["admin"], 100)) == 2
    faults.clear()
    faults.inject("TransactWriteItems", conflict, times=2)
    reply = api.call("DELETE", f"{PURCHASES}/{made.json['id']}", token=tokens["admin"])
    assert reply.status == 204 and stock("A") == 5
    faults.clear()
    faults.inject("TransactWriteItems", throttled, times=1000)
    reply = api.call("DELETE", f"{PURCHASES}/{again.json['id']}", token=tokens["admin"])
    assert reply.status == 503 and stock("A") == 5
    assert_ledger("A")


# ---- holds ------------------------------------------------------------------------------------


def held(sku: str) -> int:
    from chalicelib.store.models import Product

    return int(Product.get(sku, consistent_read=True).held)


def test_a_conversion_whose_answer_is_lost_after_its_commit_makes_one_order(api, tokens, faults):
    add_product(api, tokens["admin"], "A", stock=10)
    hold_id = api.call(
        "POST", "/holds", {"items": [{"sku": "A", "quantity": 10}]}, tokens["customer"]
    ).json["id"]
    faults.lose_answer("TransactWriteItems")
    reply = api.call("POST", "/sales-orders", {"hold_id": hold_id}, tokens["customer"])
    assert reply.status == 201, reply.json
    assert [o["id"] for o in orders_listed(api, tokens["admin"])] == [reply.json["id"]]
    assert (stock("A"), held("A")) == (0, 0)
    shown = api.call("GET", f"/holds/{hold_id}", token=tokens["customer"]).json
    assert (shown["status"], shown["order_id"]) == ("converted", reply.json["id"])
    assert_ledger("A")


def test_transaction_conflicts_on_the_product_are_retried_for_holds(api, tokens, faults):
    add_product(api, tokens["admin"], "A", stock=10)
    faults.inject("TransactWriteItems", product_conflict, times=2)
    made = api.call("POST", "/holds", {"items": [{"sku": "A", "quantity": 4}]}, tokens["customer"])
    assert made.status == 201 and faults.calls["TransactWriteItems"] == 3
    assert held("A") == 4
    faults.clear()
    faults.calls.clear()
    faults.inject("TransactWriteItems", product_conflict, times=2)
    order_of = api.call("POST", "/sales-orders", {"hold_id": made.json["id"]}, tokens["customer"])
    assert order_of.status == 201 and faults.calls["TransactWriteItems"] == 3
    assert (stock("A"), held("A")) == (6, 0)
    faults.clear()
    faults.calls.clear()
    other = api.call("POST", "/holds", {"items": [{"sku": "A", "quantity": 6}]}, tokens["customer"])
    faults.inject("TransactWriteItems", product_conflict, times=2)
    released = api.call("DELETE", f"/holds/{other.json['id']}", token=tokens["customer"])
    assert released.status == 204 and faults.calls["TransactWriteItems"] == 3
    assert (stock("A"), held("A")) == (6, 0)
    assert len(orders_listed(api, tokens["admin"])) == 1
    assert_ledger("A")


def test_one_contended_product_does_not_stop_the_sweep_of_the_others(api, tokens, faults):
    from unittest import mock

    from chalicelib import clock

    add_product(api, tokens["admin"], "A", stock=5)
    add_product(api, tokens["admin"], "B", stock=5)
    for sku in ("A", "B"):
        body = {"items": [{"sku": sku, "quantity": 5}], "ttl_seconds": 5}
        assert api.call("POST", "/holds", body, tokens["customer"]).status == 201

    def conflict_on_a(params: dict) -> Any:
        items = json.loads(params["body"])["TransactItems"]
        keys = [next(iter(item.values())).get("Key") for item in items]
        return product_conflict(params) if {"sku": {"S": "A"}} in keys else None

    faults.inject("TransactWriteItems", conflict_on_a, times=1000)
    later = clock.now() + 5
    with mock.patch.object(clock, "now", lambda: later):
        swept = api.call("POST", "/holds/release-expired", token=tokens["admin"])
        assert swept.status == 200 and swept.json == {"released": 1}
        assert (held("A"), held("B")) == (5, 0)
        faults.clear()  # the next sweep releases it
        assert api.call("POST", "/holds/release-expired", token=tokens["admin"]).json == {
            "released": 1
        }
    assert (held("A"), held("B")) == (0, 0)
