"""Helpers the unit tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

from chalice.test import Client
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from chalicelib.auth import users
from chalicelib.inventory import catalog, ledger, products
from chalicelib.settings import get_settings
from chalicelib.store.models import Movement, Product
from tests.stack import JsonClient, Reply

ORDERS = "/sales-orders"
PURCHASES = "/purchase-orders"
HOLDS = "/holds"
# The contract's product shape (API.md, Shapes).
PRODUCT_KEYS = {
    "sku",
    "name",
    "description",
    "price",
    "stock",
    "held",
    "available",
    "stock_shards",
    "low_stock_threshold",
    "created_at",
    "updated_at",
}
_counter = itertools.count()


class Api(JsonClient):
    """The same JSON client over chalice's test client (in process, no HTTP)."""

    base_headers = {"Content-Type": "application/json"}

    def __init__(self, client: Client) -> None:
        self.client = client

    def send(
        self, method: str, path: str, headers: dict[str, str], data: Any, timeout: float
    ) -> Reply:
        response = getattr(self.client.http, method.lower())(path, headers=headers, body=data)
        return Reply(response.status_code, response.headers, response.body)


def make_user(role: str, password: str = "password123") -> tuple[str, str]:
    email = f"{role}{next(_counter)}@example.com"
    user = users.create_user(email, password, f"A {role}", role)
    return user.id, email


def sent() -> list[Any]:
    """What moto's SES accepted."""
    return list(ses_backends[DEFAULT_ACCOUNT_ID][get_settings().region].sent_messages)


# ---- products, orders, the ledger ------------------------------------------------------------


def add_product(
    api: Any, admin: str, sku: str, price: str = "19.99", stock: int = 10, threshold: int = 0
) -> dict:
    reply = api.call(
        "POST",
        "/products",
        {
            "sku": sku,
            "name": f"Item {sku}",
            "price": price,
            "stock": stock,
            "low_stock_threshold": threshold,
        },
        admin,
    )
    assert reply.status == 201, reply.json
    return reply.json


def stock(sku: str) -> int:
    """The product's stock: the total of its parts."""
    return int(catalog.get_product(sku).stock)


def movements(sku: str) -> list[Movement]:
    """Every movement of the product, from every ledger it has (oldest first)."""
    product = catalog.get_product(sku)
    found = [m for key in ledger.ledgers(product) for m in Movement.query(key)]
    return sorted(found, key=lambda m: m.id)


def assert_ledger(*skus: str) -> None:
    """The contract's invariant: stock == sum(quantity_change of its movements)."""
    for sku in skus:
        assert stock(sku) == sum(m.quantity_change for m in movements(sku)), sku


def order(
    api: Any, token: str, items: list[tuple[str, int]], headers: dict | None = None, **extra: Any
) -> Any:
    body = {"items": [{"sku": sku, "quantity": q} for sku, q in items], **extra}
    return api.call("POST", ORDERS, body, token, headers=headers)


def hold(api: Any, token: str, items: list[tuple[str, int]], **extra: Any) -> Any:
    headers = extra.pop("headers", None)
    body = {"items": [{"sku": sku, "quantity": q} for sku, q in items], **extra}
    return api.call("POST", HOLDS, body, token, headers=headers)


def convert(api: Any, token: str, hold_id: str, **extra: Any) -> Any:
    headers = extra.pop("headers", None)
    return api.call("POST", ORDERS, {"hold_id": hold_id, **extra}, token, headers=headers)


def buy(
    api: Any,
    token: str,
    sku: str = "A",
    quantity: int = 5,
    headers: dict | None = None,
    **extra: Any,
) -> Any:
    body = {"sku": sku, "quantity": quantity, "supplier_name": "Acme", **extra}
    return api.call("POST", PURCHASES, body, token, headers=headers)


def login_as(api: Any, role: str) -> tuple[str, str]:
    user_id, email = make_user(role)
    return user_id, api.login(email, "password123")["access_token"]


def all_items(api: Any, path: str, token: str, limit: int = 2) -> list[dict]:
    """Follow next_cursor to the end."""
    items, cursor = [], None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        sep = "&" if "?" in path else ""
        reply = api.call("GET", path + (sep + query[1:] if sep else query), token=token)
        assert reply.status == 200, reply.json
        items += reply.json["items"]
        cursor = reply.json["next_cursor"]
        if cursor is None:
            return items


def raw_product(sku: str, stock: int, threshold: int = 5) -> Product:
    """A product as a bulk import writes it: no ledger, no episode opened."""
    return products.new_product(sku, f"Name of {sku}", "", Decimal("1.00"), stock, threshold)


def run_together(*jobs: Callable[[], Any]) -> list[Any]:
    """Start the jobs at the same moment on threads; re-raise the first failure."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = job()
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a job hung"
    if errors:
        raise errors[0]
    return results


class References(HTMLParser):
    """The URLs a page loads: every src and href."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)
        self._in_script = tag == "script" and not dict(attrs).get("src")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1
