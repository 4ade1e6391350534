"""Business metrics reach CloudWatch as embedded-metric-format lines on stdout."""

from __future__ import annotations

import json


def emf_lines(out: str) -> list[dict]:
    return [line for line in map(_json, out.splitlines()) if line and "_aws" in line]


def _json(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def test_orders_and_rejections_are_counted(api, tokens, capsys):
    admin = tokens["admin"]
    api.call(
        "POST", "/products", {"sku": "M-1", "name": "Metered", "price": "1.00", "stock": 1}, admin
    )
    capsys.readouterr()
    assert (
        api.call(
            "POST", "/sales-orders", {"items": [{"sku": "M-1", "quantity": 1}]}, tokens["customer"]
        ).status
        == 201
    )
    assert (
        api.call(
            "POST", "/sales-orders", {"items": [{"sku": "M-1", "quantity": 1}]}, tokens["customer"]
        ).status
        == 409
    )
    lines = emf_lines(capsys.readouterr().out)
    names = [
        (m["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], m.get("code")) for m in lines
    ]
    assert ("OrdersCreated", None) in names
    assert ("Rejections", "insufficient_stock") in names
    assert all(line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "AutoMart" for line in lines)


def test_low_stock_alerts_and_emails_are_counted(api, tokens, capsys, ses):
    admin = tokens["admin"]
    api.call(
        "POST",
        "/products",
        {"sku": "M-2", "name": "Metered", "price": "1.00", "stock": 6, "low_stock_threshold": 5},
        admin,
    )
    capsys.readouterr()
    assert (
        api.call(
            "POST", "/sales-orders", {"items": [{"sku": "M-2", "quantity": 2}]}, tokens["customer"]
        ).status
        == 201
    )
    assert api.call("POST", "/notifications/check", token=admin).json["emailed"] == 1
    names = [
        m["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
        for m in emf_lines(capsys.readouterr().out)
    ]
    assert names.count("LowStockAlerts") == 1  # opened by the sale, not again by the check
    assert names.count("EmailsSent") == 1
