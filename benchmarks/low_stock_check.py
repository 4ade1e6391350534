"""How the low-stock check scales with the catalog, beside a full Scan of the same table.

    .venv/bin/python benchmarks/low_stock_check.py [--sizes 1000 10000 50000] [--low 10]

Runs against moto in process (no network, no AWS): absolute times are moto's Python, not
DynamoDB's; the items read are what DynamoDB would read and bill. For each catalog size it
bulk-loads the products (BatchWriteItem), then times the first check (opens and emails 10
episodes), a steady-state check (nothing new) and a paginated Scan of the products table.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.in_process import Meter, use_moto  # noqa: E402 (after the path is set)

use_moto("bench-", ALERT_RECIPIENTS="ops@example.com")


def measure(size: int, low: int) -> list[tuple[str, float, int, int]]:
    from moto import mock_aws

    from chalicelib import mail
    from chalicelib.alerts.check import run_check
    from chalicelib.inventory.products import new_product
    from chalicelib.settings import reset_settings
    from chalicelib.store import db
    from chalicelib.store.models import Product

    reset_settings()
    db.unbind()
    mail.forget_client()
    with mock_aws():
        db.create_tables()
        mail.client().verify_email_identity(EmailAddress="alerts@example.com")
        every = size // low
        with Product.batch_write() as batch:
            for i in range(size):
                sku = f"SKU-{i:06d}"
                stock = 0 if i % every == 0 and i // every < low else 100
                batch.save(new_product(sku, f"Product {i}", "", Decimal("9.99"), stock, 5))
        rows = []
        for label in ("check (first: opens+emails)", "check (steady state)"):
            with Meter(db.client()) as meter:
                started = time.perf_counter()
                summary = run_check()
                rows.append((label, time.perf_counter() - started, meter.items, meter.requests))
            assert summary["low_stock"] == low, summary
        with Meter(db.client()) as meter:
            started = time.perf_counter()
            scanned = sum(1 for _ in Product.scan())
            rows.append(
                (
                    "full Scan of products",
                    time.perf_counter() - started,
                    meter.items,
                    meter.requests,
                )
            )
        assert scanned == size
    db.unbind()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--low", type=int, default=10)
    args = parser.parse_args()
    print(f"moto in process; {args.low} low products per catalog\n")
    print(f"{'products':>9}  {'operation':<30} {'seconds':>8} {'items read':>11} {'requests':>9}")
    for size in args.sizes:
        for label, seconds, items, requests in measure(size, args.low):
            print(f"{size:>9}  {label:<30} {seconds:>8.3f} {items:>11} {requests:>9}")


if __name__ == "__main__":
    main()
