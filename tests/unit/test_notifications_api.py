"""/notifications over HTTP, episodes ended by sales, purchases and cancellations, the schedule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.helpers import Api, run_together, sent

pytestmark = pytest.mark.usefixtures("ses")

NOTIFICATION_FIELDS = {
    "id",
    "sku",
    "product_name",
    "message",
    "stock",
    "threshold",
    "status",
    "created_at",
    "resolved_at",
    "emailed_at",
}


def new_product(api: Api, admin: str, sku: str, stock: int, threshold: int = 5) -> None:
    reply = api.call(
        "POST",
        "/products",
        {
            "sku": sku,
            "name": f"Name of {sku}",
            "price": "2.50",
            "stock": stock,
            "low_stock_threshold": threshold,
        },
        admin,
    )
    assert reply.status == 201, reply.json


def set_stock(api: Api, admin: str, sku: str, stock: int) -> None:
    reply = api.call("PATCH", f"/products/{sku}", {"stock": stock}, admin)
    assert reply.status == 200, reply.json


def listed(api: Api, admin: str, query: str = "") -> list[dict[str, Any]]:
    reply = api.call("GET", f"/notifications{query}", token=admin)
    assert reply.status == 200, reply.json
    return reply.json["items"]


def for_sku(api: Api, admin: str, sku: str) -> list[dict[str, Any]]:
    return [n for n in listed(api, admin, "?limit=100") if n["sku"] == sku]


def test_roles(api: Api, tokens: dict[str, str]) -> None:
    some_id = "01J0000000000000000000000A"
    routes = [
        ("GET", "/notifications"),
        ("GET", f"/notifications/{some_id}"),
        ("DELETE", f"/notifications/{some_id}"),
        ("POST", "/notifications/check"),
    ]
    for method, path in routes:
        assert api.call(method, path).status == 401, path
        assert api.call(method, path, token="not.a.token").status == 401, path
        for role in ("staff", "customer"):
            reply = api.call(method, path, token=tokens[role])
            assert (reply.status, reply.json["code"]) == (403, "forbidden"), (path, role)
    assert api.call("GET", "/notifications", token=tokens["admin"]).status == 200


def test_a_low_product_shows_an_open_notification(api: Api, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    new_product(api, admin, "LOW-1", stock=2, threshold=4)
    [item] = listed(api, admin)
    assert set(item) == NOTIFICATION_FIELDS
    assert (
        item["sku"],
        item["product_name"],
        item["stock"],
        item["threshold"],
        item["status"],
    ) == ("LOW-1", "Name of LOW-1", 2, 4, "open")
    assert item["created_at"].endswith("Z") and item["resolved_at"] is None
    assert item["emailed_at"] is None
    assert "LOW-1" in item["message"]
    reply = api.call("GET", f"/notifications/{item['id']}", token=admin)
    assert reply.status == 200 and reply.json == item


def test_unknown_ids_are_404(api: Api, tokens: dict[str, str]) -> None:
    for bad in ("01J0000000000000000000000A", "nope", "x" * 3000):
        for method in ("GET", "DELETE"):
            reply = api.call(method, f"/notifications/{bad}", token=tokens["admin"])
            assert (reply.status, reply.json["code"]) == (404, "not_found"), (method, bad)


def test_check_endpoint_runs_the_check_and_emails(api: Api, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    new_product(api, admin, "CHK-1", stock=1)
    new_product(api, admin, "CHK-2", stock=50)
    reply = api.call("POST", "/notifications/check", token=admin)
    assert reply.status == 200 and reply.json == {"low_stock": 1, "created": 0, "emailed": 1}
    [item] = listed(api, admin)
    assert item["emailed_at"] and item["emailed_at"].endswith("Z")
    assert len(sent()) == 1
    reply = api.call("POST", "/notifications/check", token=admin)
    assert reply.json == {"low_stock": 1, "created": 0, "emailed": 0} and len(sent()) == 1


def test_status_filter_newest_first_and_pages(api: Api, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    for i in range(5):
        new_product(api, admin, f"P-{i}", stock=0)
    for i in (1, 3):
        set_stock(api, admin, f"P-{i}", 10)
    everything = listed(api, admin)
    assert [n["sku"] for n in everything] == ["P-4", "P-3", "P-2", "P-1", "P-0"]
    assert [n["sku"] for n in listed(api, admin, "?status=open")] == ["P-4", "P-2", "P-0"]
    resolved = listed(api, admin, "?status=resolved")
    assert [n["sku"] for n in resolved] == ["P-3", "P-1"]
    assert all(n["resolved_at"] for n in resolved)
    for query in ("", "status=open&"):
        seen, cursor = [], None
        while True:
            reply = api.call(
                "GET",
                f"/notifications?{query}limit=2" + (f"&cursor={cursor}" if cursor else ""),
                token=admin,
            )
            assert reply.status == 200, reply.json
            seen += [n["sku"] for n in reply.json["items"]]
            cursor = reply.json["next_cursor"]
            if cursor is None:
                break
        expected = ["P-4", "P-2", "P-0"] if query else ["P-4", "P-3", "P-2", "P-1", "P-0"]
        assert seen == expected
    for query in ("?status=closed", "?cursor=forged", "?limit=0", "?colour=red"):
        reply = api.call("GET", f"/notifications{query}", token=admin)
        assert reply.status == 400, query


def test_delete_marks_handled_until_the_next_episode(api: Api, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    new_product(api, admin, "H-1", stock=1)
    [first] = listed(api, admin)
    assert api.call("DELETE", f"/notifications/{first['id']}", token=admin).status == 204
    assert api.call("GET", f"/notifications/{first['id']}", token=admin).status == 404
    assert api.call("DELETE", f"/notifications/{first['id']}", token=admin).status == 404
    assert listed(api, admin) == [] and listed(api, admin, "?status=open") == []
    set_stock(api, admin, "H-1", 0)  # still the same episode
    reply = api.call("POST", "/notifications/check", token=admin)
    assert reply.json == {"low_stock": 1, "created": 0, "emailed": 0}
    assert listed(api, admin) == [] and sent() == []
    set_stock(api, admin, "H-1", 5)  # recovered: the episode ends, still hidden
    assert listed(api, admin, "?status=resolved") == []
    set_stock(api, admin, "H-1", 4)  # the next episode has its own notification
    [second] = listed(api, admin)
    assert second["id"] != first["id"] and (second["status"], second["stock"]) == ("open", 4)


def test_sale_opens_and_purchase_resolves(api: Api, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    new_product(api, admin, "S-1", stock=8)
    reply = api.call("POST", "/sales-orders", {"items": [{"sku": "S-1", "quantity": 4}]}, admin)
    assert reply.status == 201, reply.json
    [item] = for_sku(api, admin, "S-1")
    assert (item["status"], item["stock"]) == ("open", 4)
    api.call("POST", "/sales-orders", {"items": [{"sku": "S-1", "quantity": 2}]}, admin)
    assert len(for_sku(api, admin, "S-1")) == 1  # lower still: the same episode
    reply = api.call(
        "POST", "/purchase-orders", {"sku": "S-1", "quantity": 3, "supplier_name": "Acme"}, admin
    )
    assert reply.status == 201, reply.json
    [item] = for_sku(api, admin, "S-1")
    assert item["status"] == "resolved" and item["resolved_at"]


def test_cancellation_resolves(api: Api, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    new_product(api, admin, "C-1", stock=6)
    order = api.call("POST", "/sales-orders", {"items": [{"sku": "C-1", "quantity": 3}]}, admin)
    assert [n["status"] for n in for_sku(api, admin, "C-1")] == ["open"]
    assert api.call("DELETE", f"/sales-orders/{order.json['id']}", token=admin).status == 204
    assert [n["status"] for n in for_sku(api, admin, "C-1")] == ["resolved"]


def test_purchase_reversal_starts_a_new_episode(api: Api, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    new_product(api, admin, "R-1", stock=1)
    purchase = api.call(
        "POST", "/purchase-orders", {"sku": "R-1", "quantity": 10, "supplier_name": "Acme"}, admin
    )
    assert api.call("DELETE", f"/purchase-orders/{purchase.json['id']}", token=admin).status == 204
    api.call("POST", "/notifications/check", token=admin)
    assert [n["status"] for n in for_sku(api, admin, "R-1")] == ["open", "resolved"]


def test_sales_racing_checks_give_one_notification(
    api: Api, tokens: dict[str, str], atomic_moto: None
) -> None:
    from chalicelib.alerts.check import run_check
    from chalicelib.inventory.idempotency import Intent
    from chalicelib.store.models import User

    admin = tokens["admin"]
    buyer = next(iter(User.by_role.query("admin"))).id
    skus = [f"RS-{i}" for i in range(6)]
    for sku in skus:
        new_product(api, admin, sku, stock=9)

    def sell() -> None:
        from chalicelib.inventory import sales  # the domain: the test client is not threadsafe
        from chalicelib.schemas.orders import SalesOrderIn
        from chalicelib.vocabulary import Caller, Role

        for sku in skus:
            for _ in range(3):  # 9 -> 6 -> 3 (low) -> 0
                body = SalesOrderIn.model_validate({"items": [{"sku": sku, "quantity": 3}]})
                sales.create_order(Caller(buyer, Role.ADMIN), body, Intent(None, "unused"))

    run_together(sell, lambda: [run_check() for _ in range(4)])
    for sku in skus:
        [item] = for_sku(api, admin, sku)
        assert (item["status"], item["stock"]) == ("open", 3)


def test_schedule_runs_the_check(client: Any, api: Api, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    new_product(api, admin, "SCH-1", stock=0)
    event = client.events.generate_cw_event(
        source="aws.events",
        detail_type="Scheduled Event",
        detail={},
        resources=["arn:aws:events:us-east-1:123456789012:rule/check_low_stock"],
    )
    reply = client.lambda_.invoke("check_low_stock", event)
    assert reply.payload == {"low_stock": 1, "created": 0, "emailed": 1}
    assert "SCH-1" in sent()[0].body
    assert json.dumps(reply.payload)  # what the Lambda returns is plain JSON


def test_email_bodies_escape_html(api: Api, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    reply = api.call(
        "POST",
        "/products",
        {"sku": "X-1", "name": "<b>Bolt</b> & nut", "price": "1.00", "stock": 0},
        admin,
    )
    assert reply.status == 201
    api.call("POST", "/notifications/check", token=admin)
    assert "&lt;b&gt;Bolt&lt;/b&gt; &amp; nut" in sent()[0].body
