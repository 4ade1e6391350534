"""The check's cost follows the low products, not the catalog (its own module: a fresh moto)."""

from __future__ import annotations

from typing import Any

from chalicelib.alerts.check import run_check
from chalicelib.store import db
from chalicelib.store.models import Product
from tests.unit.helpers import raw_product


class ReadMeter:
    """Counts the items DynamoDB returned to this client, per operation and table."""

    def __init__(self) -> None:
        self.items = 0
        self.calls: list[tuple[str, str | None]] = []

    def before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, params.get("TableName")))

    def after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("Query", "Scan"):
            self.items += parsed.get("ScannedCount", parsed.get("Count", 0))
        elif model.name == "GetItem":
            self.items += 1 if parsed.get("Item") else 0
        elif model.name == "BatchGetItem":
            self.items += sum(len(v) for v in parsed.get("Responses", {}).values())
        elif model.name == "TransactGetItems":
            self.items += len(parsed.get("Responses", []))

    def __enter__(self) -> ReadMeter:
        events = db.client().meta.events
        events.register("provide-client-params.dynamodb", self.before)
        events.register("after-call.dynamodb", self.after)
        return self

    def __exit__(self, *exc: object) -> None:
        events = db.client().meta.events
        events.unregister("provide-client-params.dynamodb", self.before)
        events.unregister("after-call.dynamodb", self.after)


def test_check_reads_only_low_products_of_a_large_catalog(admin: str) -> None:
    with Product.batch_write() as batch:
        for i in range(5000):
            batch.save(raw_product(f"CAT-{i:05d}", stock=0 if i % 1000 == 7 else 100))
    with ReadMeter() as meter:
        summary = run_check()
    assert summary == {"low_stock": 5, "created": 5, "emailed": 5}
    assert meter.items <= 50, meter.items
    products_table = Product.Meta.table_name
    assert ("Scan", products_table) not in meter.calls
    with ReadMeter() as meter:  # the steady state: nothing new
        assert run_check() == {"low_stock": 5, "created": 0, "emailed": 0}
    assert meter.items <= 15, meter.items
