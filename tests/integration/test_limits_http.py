"""Over HTTP, through the limits proxy (infra/dynamodb_limits.py, put in front of DynamoDB Local
by infra/local_stack.py with DYNAMODB_LIMITS): what moto never raises.

Concurrent sales of one sku meet real TransactionConflicts (the proxy counts them); the app's
retries turn them into 201s, or 503 `busy` with Retry-After, never a 500; nothing is oversold
and the ledger is exact. With stock_shards 8, the same load meets fewer conflicts per order.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration.conftest import require_backend
from tests.stack import Http, Stack, free_port, ledger_sum, new_user, start_stack, stop_stack

# A lock long enough that 16 buyers of one item collide on every sale; units and reads roomy
# enough that the lock, not a token bucket, is what refuses.
LIMITS = "write=100,read=1000,lock_ms=300"
CLIENTS = 16
CUSTOMERS = 4
SALE_SECONDS_LIMIT = 20.0  # the sale must be over (stock gone) within this long


@dataclass
class Limited:
    stack: Stack
    proxy_url: str
    admin: str
    customers: list[str]

    def limits(self, reset: bool = False) -> dict[str, Any]:
        host, port = self.proxy_url.rsplit(":", 1)
        connection = http.client.HTTPConnection(host.removeprefix("http://"), int(port))
        try:
            connection.request("POST" if reset else "GET", "/limits/reset" if reset else "/limits")
            return json.loads(connection.getresponse().read())
        finally:
            connection.close()


@pytest.fixture(scope="module")
def limited() -> Iterator[Limited]:
    require_backend("dynamodb-local")
    port = free_port()
    stack = start_stack("dynamodb-local", DYNAMODB_LIMITS=LIMITS, DYNAMODB_LIMITS_PORT=str(port))
    try:
        admin = stack.admin_token()
        customers = [new_user(stack.http, admin, "customer")[1] for _ in range(CUSTOMERS)]
        yield Limited(stack, f"http://127.0.0.1:{port}", admin, customers)
    finally:
        assert stop_stack(stack) == 0


@dataclass
class Sale:
    stock: int
    statuses: Counter = field(default_factory=Counter)
    busy_without_retry_after: int = 0
    conflicts: int = 0
    final_stock: int = 0
    ledger: int = 0

    @property
    def sold(self) -> int:
        return self.statuses[201]


def flash_sale(limited: Limited, shards: int, stock: int) -> Sale:
    """CLIENTS buyers of 1 unit each (an Idempotency-Key per order) until the stock is gone."""
    http = limited.stack.http
    sku = f"LIMITS-{shards}-{uuid.uuid4().hex[:8]}"
    body = {"sku": sku, "name": "Anvil", "price": "19.99", "stock": stock}
    assert http.call("POST", "/products", body, limited.admin).status == 201
    reply = http.call("PATCH", f"/products/{sku}", {"stock_shards": shards}, limited.admin)
    assert reply.status == 200 and reply.json["stock_shards"] == shards, reply.body
    limited.limits(reset=True)
    sale = Sale(stock)
    lock = threading.Lock()
    over = threading.Event()
    deadline = time.monotonic() + SALE_SECONDS_LIMIT

    def buyer(worker: int) -> None:
        client = Http(limited.stack.base_url)
        token = limited.customers[worker % len(limited.customers)]
        while not over.is_set() and time.monotonic() < deadline:
            reply = client.call(
                "POST",
                "/sales-orders",
                {"items": [{"sku": sku, "quantity": 1}]},
                token,
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            with lock:
                sale.statuses[reply.status] += 1
                if reply.status == 503 and not reply.headers.get("Retry-After"):
                    sale.busy_without_retry_after += 1
                if reply.status == 409 or sale.statuses[201] >= stock:
                    over.set()  # the stock is gone (or oversold: asserted below)

    threads = [threading.Thread(target=buyer, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sale.conflicts = limited.limits()["refused"]["transaction_conflict"]
    product = http.call("GET", f"/products/{sku}", token=limited.admin)
    assert product.status == 200, product.body
    sale.final_stock = product.json["stock"]
    sale.ledger = ledger_sum(http, limited.admin, sku)
    return sale


def assert_sound(sale: Sale) -> None:
    """Only 201, 409 and 503 (with Retry-After); nothing oversold; the ledger exact."""
    assert set(sale.statuses) <= {201, 409, 503}, sale.statuses
    assert sale.busy_without_retry_after == 0
    assert sale.sold <= sale.stock, sale.statuses
    assert sale.final_stock >= 0
    assert sale.stock - sale.final_stock == sale.sold, (sale.final_stock, sale.statuses)
    assert sale.ledger == sale.final_stock
    assert sale.final_stock == 0, "the sale ended before the stock was gone"


@pytest.fixture(scope="module")
def unsharded(limited: Limited) -> Sale:
    return flash_sale(limited, shards=1, stock=8)


def test_conflicts_on_one_item_become_201s_or_503s_never_500(unsharded: Sale) -> None:
    assert unsharded.conflicts > 0, "the proxy refused no transaction: nothing was proven"
    assert_sound(unsharded)
    # Every sale of an unsharded sku locks the product item: most attempts meet a lock.
    assert unsharded.conflicts >= unsharded.sold


def test_stock_shards_8_meets_fewer_conflicts_per_order(limited: Limited, unsharded: Sale) -> None:
    sharded = flash_sale(limited, shards=8, stock=24)
    assert_sound(sharded)
    per_order = sharded.conflicts / sharded.sold
    before = unsharded.conflicts / unsharded.sold
    assert per_order < before / 2, (per_order, before)
