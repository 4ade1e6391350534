"""DynamoDB requests per API operation, counted on the one shared botocore client.

    .venv/bin/python -m benchmarks.dynamodb_requests [--json]

In process: moto's mock (no network), the app through chalice.test.Client, the count taken with
a botocore `before-call` hook, as tests/unit/test_request_counts.py does. Requests are what
DynamoDB bills and what a Lambda waits on, so the figures hold for AWS as well. Each figure is
shown beside its floor: the fewest requests the contract allows with this data model (one read
for a read by key, one transaction for an atomic multi-item write, and so on), with the reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.in_process import use_moto  # noqa: E402 (after the path is set)

use_moto(
    "bench-requests-",
    JWT_KEYS="request-count-benchmark-signing-key-32-bytes",
    ARGON2_MEMORY_KIB="256",
    ARGON2_TIME_COST="1",
    ALERT_RECIPIENTS="ops@example.com",
)

EXPIRED_HOLDS = 5  # the sweep's row: this many holds expire (the clock moved past their ttl)
HOLD_TTL = 5  # seconds, the least a hold may ask for


def _shard_counts() -> tuple[int, int, int]:
    """The production shard counts (settings.py's defaults): every shard is a Query."""
    from chalicelib.settings import get_settings

    settings = get_settings()
    return settings.low_stock_shards, settings.list_shards, settings.hold_shards


LOW, LISTS, HOLDS = _shard_counts()

# (label, floor, why the floor)
FLOORS = {
    "POST /auth/login": (3, "read the email claim, read the user, store the refresh token"),
    "GET /auth/me": (1, "GetItem of the user"),
    "POST /products": (1, "one transaction: product + initial movement"),
    "GET /products/{sku}": (1, "one BatchGetItem: the product with its stock parts"),
    "PATCH /products/{sku} (stock)": (2, "read the product, one transaction: stock + movement"),
    "GET /products (20)": (2, "one Query of the sku index (keys), one BatchGetItem of the page"),
    "GET /products?sort=name&q=bench (20)": (
        3,
        "a Query each of the sku and name indexes (the matches' keys), one BatchGetItem",
    ),
    "GET /products?stock=low (20)": (
        LOW + 2,
        f"a Query per low-stock shard ({LOW}, the low products' small entries), one of "
        "by_sharding (the products in stock parts), one BatchGetItem",
    ),
    "POST /products/{sku}/adjustments": (
        2,
        "read the product and the marker (one BatchGetItem), one transaction",
    ),
    "GET /products/{sku}/movements": (2, "read the product (incarnation), one Query"),
    "POST /sales-orders (1 line)": (2, "read prices (BatchGetItem), one transaction"),
    "POST /sales-orders (5 lines)": (2, "the same, whatever the number of lines"),
    "POST /sales-orders (replay)": (1, "read the idempotency marker"),
    "GET /sales-orders": (
        LISTS,
        f"an admin's list of every order: a Query per list shard ({LISTS}) of all_orders, "
        "merged newest first (no one partition takes every order)",
    ),
    "GET /sales-orders/{id}": (1, "GetItem"),
    "DELETE /sales-orders/{id}": (2, "read the order, one transaction"),
    "POST /purchase-orders": (2, "read the product, one transaction"),
    "DELETE /purchase-orders/{id}": (2, "read the purchase, one transaction"),
    "POST /sales-orders/{id}/returns": (
        2,
        "read the order, its products and the marker (one BatchGetItem), one transaction",
    ),
    "POST /notifications/check (5 low)": (
        LOW + 13,
        f"a Query per low-stock index shard ({LOW}), one of by_sharding, the open-episode "
        "states (1, sized by the open episodes, not the catalog), the pending notifications "
        "(1), claim and mark emailed per notification (2 x 5)",
    ),
    "GET /notifications": (1, "one Query"),
    "POST /holds (1 line)": (
        2,
        "read the products, the customer and the marker (one BatchGetItem), one transaction: "
        "each `held` + the hold",
    ),
    "POST /holds (5 lines)": (2, "the same, whatever the number of lines"),
    "POST /holds (replay)": (
        2,
        "read the marker, then the hold it names (a released hold answers 404: it must be read)",
    ),
    "GET /holds": (
        3 * HOLDS,
        "an admin's list of every hold: a Query per stored status (active, converted, released) "
        f"and shard ({HOLDS}) of by_status, merged newest first (no one partition takes every "
        "hold)",
    ),
    "GET /holds?status=active": (
        HOLDS,
        f"a Query per shard ({HOLDS}) of the active partition of by_status",
    ),
    "GET /holds/{id}": (1, "GetItem"),
    "POST /sales-orders {hold_id} (5 lines)": (
        3,
        "read the hold (its skus), one BatchGetItem (products, customer, marker, the hold "
        "again), one transaction: stock + held + sale movements, the order, the hold converted",
    ),
    "DELETE /holds/{id}": (
        3,
        "read the hold, read its products (incarnations), one transaction: each `held` + the "
        "hold released",
    ),
    "POST /holds/release-expired (none expired)": (
        HOLDS,
        f"a Query per expiry shard ({HOLDS}) of the sparse expiring index",
    ),
    f"POST /holds/release-expired ({EXPIRED_HOLDS} expired)": (
        HOLDS + 2 + EXPIRED_HOLDS,
        f"a Query per expiry shard ({HOLDS}), per batch of 100 one BatchGetItem of the expired "
        f"holds and one of their products, one transaction per hold: {HOLDS} + 2 * "
        f"ceil(N / 100) + N, N = {EXPIRED_HOLDS}",
    ),
}


def measure() -> list[dict[str, Any]]:
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib.auth import users
    from chalicelib.store import db
    from infra import gateway_shim

    gateway_shim.install()
    rows: list[dict[str, Any]] = []
    with mock_aws():
        db.create_tables()
        import boto3

        boto3.client("ses", region_name="us-east-1").verify_email_identity(
            EmailAddress=os.environ["ALERT_SENDER"]
        )
        users.create_user("bench-admin@example.com", "password123", "Admin", "admin")
        import app as application

        with Client(application.app, stage_name="local") as client:
            seen: Counter[str] = Counter()

            def count(model: Any, **_: Any) -> None:
                seen[model.name] += 1

            def call(
                method: str,
                path: str,
                body: Any = None,
                token: str | None = None,
                headers: dict[str, str] | None = None,
            ) -> Any:
                sent = {"Content-Type": "application/json", **(headers or {})}
                if token:
                    sent["Authorization"] = f"Bearer {token}"
                reply = getattr(client.http, method.lower())(
                    path, headers=sent, body=json.dumps(body) if body is not None else None
                )
                assert reply.status_code < 300, (method, path, reply.status_code, reply.body)
                return json.loads(reply.body) if reply.body else None

            def counted(label: str, *args: Any, **kwargs: Any) -> Any:
                seen.clear()
                result = call(*args, **kwargs)
                floor, why = FLOORS[label]
                rows.append(
                    {
                        "operation": label,
                        "requests": sum(seen.values()),
                        "by_kind": dict(seen),
                        "floor": floor,
                        "why": why,
                    }
                )
                return result

            call("GET", "/health")
            db.client().meta.events.register(
                "before-call.dynamodb", count, unique_id="bench-request-counter"
            )
            login = {"email": "bench-admin@example.com", "password": "password123"}
            admin = counted("POST /auth/login", "POST", "/auth/login", login)["access_token"]
            counted("GET /auth/me", "GET", "/auth/me", token=admin)
            for i in range(8):
                body = {
                    "sku": f"B-{i}",
                    "name": f"Bench {i}",
                    "price": "2.50",
                    "stock": 100,
                    "low_stock_threshold": 5,
                }
                if i == 0:
                    counted("POST /products", "POST", "/products", body, admin)
                else:
                    call("POST", "/products", body, admin)
            counted("GET /products/{sku}", "GET", "/products/B-0", token=admin)
            counted("PATCH /products/{sku} (stock)", "PATCH", "/products/B-0", {"stock": 90}, admin)
            counted("GET /products (20)", "GET", "/products?limit=20", token=admin)
            counted(
                "GET /products?sort=name&q=bench (20)",
                "GET",
                "/products?sort=name&q=bench&limit=20",
                token=admin,
            )
            counted(
                "POST /products/{sku}/adjustments",
                "POST",
                "/products/B-0/adjustments",
                {"change": -1, "expected_stock": 90, "reason": "damaged"},
                admin,
                {"Idempotency-Key": "bench-adjust"},
            )
            counted("GET /products/{sku}/movements", "GET", "/products/B-0/movements", token=admin)
            one = {"items": [{"sku": "B-0", "quantity": 1}]}
            order = counted(
                "POST /sales-orders (1 line)",
                "POST",
                "/sales-orders",
                one,
                admin,
                {"Idempotency-Key": "bench-1"},
            )
            counted(
                "POST /sales-orders (5 lines)",
                "POST",
                "/sales-orders",
                {"items": [{"sku": f"B-{i}", "quantity": 1} for i in range(1, 6)]},
                admin,
            )
            counted(
                "POST /sales-orders (replay)",
                "POST",
                "/sales-orders",
                one,
                admin,
                {"Idempotency-Key": "bench-1"},
            )
            counted("GET /sales-orders", "GET", "/sales-orders", token=admin)
            counted(
                "POST /sales-orders/{id}/returns",
                "POST",
                f"/sales-orders/{order['id']}/returns",
                {"items": [{"sku": "B-0", "quantity": 1, "restock": True}]},
                admin,
                {"Idempotency-Key": "bench-return"},
            )
            counted("GET /sales-orders/{id}", "GET", f"/sales-orders/{order['id']}", token=admin)
            counted(
                "DELETE /sales-orders/{id}", "DELETE", f"/sales-orders/{order['id']}", token=admin
            )
            purchase = counted(
                "POST /purchase-orders",
                "POST",
                "/purchase-orders",
                {"sku": "B-7", "quantity": 5, "supplier_name": "Bench"},
                admin,
            )
            counted(
                "DELETE /purchase-orders/{id}",
                "DELETE",
                f"/purchase-orders/{purchase['id']}",
                token=admin,
            )
            for i in range(5):  # five products become low (without a check yet)
                call("PATCH", f"/products/B-{i}", {"low_stock_threshold": 1000}, admin)
            counted("GET /products?stock=low (20)", "GET", "/products?stock=low", token=admin)
            counted(
                "POST /notifications/check (5 low)", "POST", "/notifications/check", token=admin
            )
            counted("GET /notifications", "GET", "/notifications", token=admin)
            measure_holds(call, counted, admin, rows)
    return rows


def measure_holds(call: Any, counted: Any, admin: str, rows: list[dict[str, Any]]) -> None:
    """Holds on products of their own (no low stock, no episode in their transactions), on a
    clock that moves only when it is moved: the sweep's holds expire when it steps past them."""
    import time
    from unittest import mock

    from chalicelib import clock

    class Clock:
        def __init__(self) -> None:
            self.time = time.time()

        def __call__(self) -> float:
            return self.time

    for i in range(6):
        body = {
            "sku": f"H-{i}",
            "name": f"Held {i}",
            "price": "4.00",
            "stock": 100,
            "low_stock_threshold": 0,
        }
        call("POST", "/products", body, admin)
    fake = Clock()
    with mock.patch.object(clock, "now", fake):
        one = {"items": [{"sku": "H-0", "quantity": 1}]}
        key = {"Idempotency-Key": "bench-hold-1"}
        first = counted("POST /holds (1 line)", "POST", "/holds", one, admin, key)
        five = counted(
            "POST /holds (5 lines)",
            "POST",
            "/holds",
            {"items": [{"sku": f"H-{i}", "quantity": 2} for i in range(1, 6)]},
            admin,
        )
        again = counted("POST /holds (replay)", "POST", "/holds", one, admin, key)
        assert again["id"] == first["id"], (first, again)
        counted("GET /holds", "GET", "/holds", token=admin)
        counted("GET /holds?status=active", "GET", "/holds?status=active", token=admin)
        counted("GET /holds/{id}", "GET", f"/holds/{first['id']}", token=admin)
        order = counted(
            "POST /sales-orders {hold_id} (5 lines)",
            "POST",
            "/sales-orders",
            {"hold_id": five["id"]},
            admin,
            {"Idempotency-Key": "bench-convert"},
        )
        assert order["hold_id"] == five["id"] and len(order["items"]) == 5, order
        counted("DELETE /holds/{id}", "DELETE", f"/holds/{first['id']}", token=admin)
        expiring = []
        for i in range(EXPIRED_HOLDS):  # one line each, on as many products as there are
            short = {"items": [{"sku": f"H-{i % 6}", "quantity": 1}], "ttl_seconds": HOLD_TTL}
            expiring.append(call("POST", "/holds", short, admin)["id"])
        none = counted(
            "POST /holds/release-expired (none expired)",
            "POST",
            "/holds/release-expired",
            token=admin,
        )
        assert none == {"released": 0}, none
        fake.time += HOLD_TTL + 1
        swept = counted(
            f"POST /holds/release-expired ({EXPIRED_HOLDS} expired)",
            "POST",
            "/holds/release-expired",
            token=admin,
        )
        assert swept == {"released": EXPIRED_HOLDS}, swept


def render(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| operation | DynamoDB requests | floor | requests sent | floor: why |",
        "|---|---:|---:|---|---|",
    ]
    for row in rows:
        kinds = ", ".join(f"{name} {n}" for name, n in sorted(row["by_kind"].items()))
        lines.append(
            f"| {row['operation']} | {row['requests']} | {row['floor']} | {kinds} | {row['why']} |"
        )
    over = [row["operation"] for row in rows if row["requests"] > row["floor"]]
    lines += ["", "Above the floor: " + (", ".join(over) if over else "none") + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", help="also write the markdown table to this file")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the app's request logs are not the result
    rows = measure()
    print(json.dumps(rows, indent=2) if args.json else render(rows))
    if args.out:
        Path(args.out).write_text(render(rows) + "\n")


if __name__ == "__main__":
    main()
