"""Low-stock alerts over HTTP against the local stack: one notification, one email."""

from __future__ import annotations

import uuid

from infra.cli import read_local_emails
from tests.stack import new_user


def test_a_low_product_gets_one_notification_and_one_email(stack, http, admin):
    sku = f"LOW-{uuid.uuid4().hex[:8]}"
    body = {"sku": sku, "name": "Rare part", "price": "5.00", "stock": 6, "low_stock_threshold": 5}
    assert http.call("POST", "/products", body, admin).status == 201
    _, customer = new_user(http, admin, "customer")
    sale = http.call("POST", "/sales-orders", {"items": [{"sku": sku, "quantity": 3}]}, customer)
    assert sale.status == 201

    def mine(status: str = "open") -> list[dict]:
        items = http.call("GET", f"/notifications?status={status}&limit=100", token=admin)
        return [n for n in items.json["items"] if n["sku"] == sku]

    opened = mine()
    assert len(opened) == 1 and opened[0]["stock"] == 3 and opened[0]["threshold"] == 5
    before = len(read_local_emails(stack.emulator_url))
    first = http.call("POST", "/notifications/check", token=admin).json
    assert first["low_stock"] >= 1 and first["emailed"] >= 1
    second = http.call("POST", "/notifications/check", token=admin).json
    assert second["created"] == 0 and second["emailed"] == 0
    assert len(mine()) == 1
    emails = read_local_emails(stack.emulator_url)[before:]
    assert len(emails) == 1 and "Low stock" in emails[0]["subject"] and sku in emails[0]["body"]
    shown = http.call("GET", f"/notifications/{opened[0]['id']}", token=admin).json
    assert shown["emailed_at"] is not None

    restock = {"sku": sku, "quantity": 10, "supplier_name": "Acme"}
    assert http.call("POST", "/purchase-orders", restock, admin).status == 201
    assert mine() == [] and [n["id"] for n in mine("resolved")] == [opened[0]["id"]]
    assert http.call("DELETE", f"/notifications/{opened[0]['id']}", token=admin).status == 204
    assert http.call("GET", f"/notifications/{opened[0]['id']}", token=admin).status == 404
    assert http.call("GET", "/notifications", token=customer).status == 403
