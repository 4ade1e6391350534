"""Sales orders per second over HTTP at 1, 4 and 16 concurrent clients, beside baselines.

    .venv/bin/python -m benchmarks.orders_per_second                 # starts the local stack
    LOCAL_DB=dynamodb-local .venv/bin/python -m benchmarks.orders_per_second
    .venv/bin/python -m benchmarks.orders_per_second --base-url http://127.0.0.1:8000 \
        --admin-email admin@example.com --admin-password local-admin-password

Every request opens a new connection: keep-alive to `chalice local` stalls about 40 ms a request.
Baselines, measured in the same run at the same concurrency: GET /health (no token, no
database) and GET /products/{sku} (the authorizer and one GetItem). The DynamoDB requests per order
are counted in process (moto, botocore hook), as tests/unit/test_request_counts.py does.
Not a test: numbers depend on the machine and the emulator (moto copies every table on each
TransactWriteItems, so it slows as tables grow; DynamoDB Local does not).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
LEVELS = (1, 4, 16)


class Http:
    """One new connection per request."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prefix = parts.path.rstrip("/")

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Connection": "close"}
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(method, self.prefix + path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
        finally:
            connection.close()


def run_level(clients: int, seconds: float, request: Any) -> tuple[float, Counter, float]:
    """Requests per second with `clients` threads for `seconds`; statuses; median latency (ms)."""
    stop = time.monotonic() + seconds
    statuses: Counter = Counter()
    latencies: list[float] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        n = 0
        while time.monotonic() < stop:
            began = time.perf_counter()
            try:
                status = request(worker, n)
            except OSError as exc:
                status = type(exc).__name__
            took = time.perf_counter() - began
            n += 1
            with lock:
                statuses[status] += 1
                latencies.append(took)

    began = time.monotonic()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    median = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
    return sum(statuses.values()) / elapsed, statuses, median


def requests_per_order() -> Counter:
    """DynamoDB requests of one sale, counted in process against moto (as the unit tests do)."""
    sys.path.insert(0, str(ROOT))
    from chalice.test import Client
    from moto import mock_aws

    import tests.conftest  # noqa: F401  (the unit-test environment: in-process moto only)
    from chalicelib.auth import users
    from chalicelib.settings import reset_settings
    from chalicelib.store import db
    from infra import gateway_shim

    gateway_shim.install()
    reset_settings()
    db.unbind()
    with mock_aws():
        db.create_tables()
        from app import app

        users.create_user("bench@example.com", "password123", "Bench", "admin")
        with Client(app, stage_name="local") as client:

            def call(method: str, path: str, body: Any, token: str = "") -> Any:
                headers = {"Content-Type": "application/json"}
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                reply = getattr(client.http, method)(path, headers=headers, body=json.dumps(body))
                return json.loads(reply.body)

            token = call(
                "post", "/auth/login", {"email": "bench@example.com", "password": "password123"}
            )["access_token"]
            call(
                "post", "/products", {"sku": "B", "name": "B", "price": "1.00", "stock": 100}, token
            )
            seen: Counter = Counter()
            events = db.client().meta.events
            events.register(
                "before-call.dynamodb",
                lambda model, **_: seen.update([model.name]),
                unique_id="bench-counter",
            )
            call("post", "/sales-orders", {"items": [{"sku": "B", "quantity": 1}]}, token)
            events.unregister("before-call.dynamodb", unique_id="bench-counter")
    db.unbind()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", help="a running API; default: start the local stack")
    parser.add_argument("--admin-email", default="bench-admin@example.com")
    parser.add_argument("--admin-password", default="bench-admin-password")
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--products", type=int, default=16, help="orders spread over these")
    args = parser.parse_args()

    stack = None
    base_url = args.base_url
    if base_url is None:
        from tests.stack import start_stack  # the same local stack the integration tests start

        stack = start_stack(
            os.environ.get("LOCAL_DB", "moto"),
            ADMIN_EMAIL=args.admin_email,
            ADMIN_PASSWORD=args.admin_password,
        )
        base_url = stack.base_url
    try:
        api = Http(base_url)
        status, tokens = api.call(
            "POST", "/auth/login", {"email": args.admin_email, "password": args.admin_password}
        )
        if status != 200:
            raise SystemExit(f"admin login failed ({status}): {tokens}")
        token = tokens["access_token"]
        run = f"{int(time.time())}"
        skus = [f"BENCH-{run}-{i}" for i in range(args.products)]
        for sku in skus:
            status, body = api.call(
                "POST",
                "/products",
                {
                    "sku": sku,
                    "name": f"Bench {sku}",
                    "price": "19.99",
                    "stock": 1_000_000_000,
                    "low_stock_threshold": 0,
                },
                token,
            )
            assert status == 201, body

        def sell(worker: int, n: int) -> int:
            sku = skus[(worker * 7919 + n) % len(skus)]
            return api.call(
                "POST", "/sales-orders", {"items": [{"sku": sku, "quantity": 1}]}, token
            )[0]

        def health(worker: int, n: int) -> int:
            return api.call("GET", "/health")[0]

        def one_read(worker: int, n: int) -> int:
            return api.call("GET", f"/products/{skus[worker % len(skus)]}", token=token)[0]

        print(f"API {base_url}; {args.seconds:g} s per measurement; a new connection per request")
        print(
            f"{'clients':>7} {'orders/s':>9} {'p50 ms':>7} {'health/s':>9} {'p50 ms':>7} "
            f"{'GET product/s':>13} {'p50 ms':>7}  statuses (orders)"
        )
        for clients in LEVELS:
            orders_rate, statuses, orders_p50 = run_level(clients, args.seconds, sell)
            health_rate, _, health_p50 = run_level(clients, args.seconds, health)
            read_rate, _, read_p50 = run_level(clients, args.seconds, one_read)
            print(
                f"{clients:>7} {orders_rate:>9.1f} {orders_p50:>7.1f} {health_rate:>9.1f} "
                f"{health_p50:>7.1f} {read_rate:>13.1f} {read_p50:>7.1f}  {dict(statuses)}",
                flush=True,
            )
    finally:
        if stack is not None:
            from tests.stack import stop_stack

            stop_stack(stack)
    seen = requests_per_order()
    print(f"DynamoDB requests per order: {sum(seen.values())} ({dict(seen)})")


if __name__ == "__main__":
    main()
