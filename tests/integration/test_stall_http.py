"""A stalled database over HTTP: with the process serving DynamoDB paused (SIGSTOP: connections
are accepted, nothing is ever answered), requests answer 503 `busy` with Retry-After in time
(API Gateway would give up at 29 s), and an order retried after the database is back, with the
same Idempotency-Key, exists exactly once."""

from __future__ import annotations

import time
import uuid

from tests.stack import Http, Reply, Stack, all_pages, ledger_sum, new_user

# The contract of a stall: an answer, 503 busy, within this long (chalicelib/store/db.py budgets
# DynamoDB's timeouts and retries to fit it).
ANSWER_WITHIN_SECONDS = 10.0
# The client's own limit: longer than the budget, so a hang fails the assertion, not the run.
CLIENT_TIMEOUT_SECONDS = 25.0


def timed(http: Http, *args: object, **kwargs: object) -> tuple[Reply, float]:
    started = time.monotonic()
    reply = http.call(*args, timeout=CLIENT_TIMEOUT_SECONDS, **kwargs)  # type: ignore[arg-type]
    return reply, time.monotonic() - started


def assert_busy(reply: Reply, elapsed: float, what: str) -> None:
    assert reply.status == 503, (what, reply.status, reply.body)
    assert reply.json["code"] == "busy" and reply.json["message"], (what, reply.body)
    assert reply.headers.get("Retry-After", "").isdigit(), (what, dict(reply.headers))
    assert elapsed < ANSWER_WITHIN_SECONDS, f"{what}: 503 after {elapsed:.1f} s"


def test_a_stalled_database_answers_503_in_time_and_the_retried_order_exists_once(
    stack: Stack, http: Http, admin: str
) -> None:
    sku = f"STALL-{uuid.uuid4().hex[:10]}"
    product = {"sku": sku, "name": "Stall test", "price": "4.00", "stock": 10}
    assert http.call("POST", "/products", product, admin).status == 201
    _, customer = new_user(http, admin, "customer")  # tokens come before the stall
    order = {"items": [{"sku": sku, "quantity": 3}]}
    key = {"Idempotency-Key": f"stall-{uuid.uuid4().hex}"}

    with stack.database_paused():
        read, read_seconds = timed(http, "GET", f"/products/{sku}", token=customer)
        sold, sold_seconds = timed(http, "POST", "/sales-orders", order, customer, headers=key)
    print(
        f"\n{stack.backend}: database stalled: GET /products/{{sku}} {read.status} in "
        f"{read_seconds:.2f} s, POST /sales-orders {sold.status} in {sold_seconds:.2f} s"
    )
    assert_busy(read, read_seconds, "GET /products/{sku}")
    assert_busy(sold, sold_seconds, "POST /sales-orders")

    # Back: the same order with the same key is sold once, however often it is sent.
    first = http.call("POST", "/sales-orders", order, customer, headers=key)
    assert first.status in (200, 201), first.body
    again = http.call("POST", "/sales-orders", order, customer, headers=key)
    assert again.status == 200 and again.json["id"] == first.json["id"], again.body
    stock = http.call("GET", f"/products/{sku}", token=admin).json["stock"]
    assert stock == 10 - 3 == ledger_sum(http, admin, sku)
    mine = [
        o
        for o in all_pages(http, "/sales-orders", customer)
        if any(i["sku"] == sku for i in o["items"])
    ]
    assert [o["id"] for o in mine] == [first.json["id"]]
