"""GET /products: sorted by sku or name, searched by prefix, filtered by stock level; cursors
bound to their query (API.md, Catalog)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.helpers import all_items, order

# sku, name, stock, threshold: mixed case on both, so code-point and case-insensitive orders
# differ, and names that tie.
CATALOG = [
    ("anvil-2", "anvil", 10, 5),
    ("ANVIL-1", "Anvil", 3, 5),
    ("Anv-9", "Bellows", 0, 0),
    ("BOLT-1", "bolt", 0, 2),
    ("bolt-7", "Anchor", 50, 5),
    ("CHISEL", "chisel", 5, 5),
    ("X-1", "ANVIL STAND", 4, 5),
    ("x-0", "anvil stand", 7, 1),
    ("E-1", "Éclair", 2, 1),
    ("e-2", "éclair", 0, 1),
]


@pytest.fixture()
def shop(api: Any, tokens: dict[str, str]) -> dict[str, dict]:
    made = {}
    for sku, name, stock, threshold in CATALOG:
        body = {
            "sku": sku,
            "name": name,
            "price": "1.00",
            "stock": stock,
            "low_stock_threshold": threshold,
        }
        reply = api.call("POST", "/products", body, tokens["admin"])
        assert reply.status == 201, reply.json
        made[sku] = reply.json
    return made


def expected(q: str | None = None, stock: str | None = None, sort: str = "sku") -> list[str]:
    """The contract's rules, written as a client reads them."""
    rows = CATALOG
    if q is not None:
        rows = [
            r
            for r in rows
            if r[0].lower().startswith(q.lower()) or r[1].lower().startswith(q.lower())
        ]
    if stock == "low":
        rows = [r for r in rows if r[2] < r[3]]
    if stock == "out":
        rows = [r for r in rows if r[2] == 0]
    key = (lambda r: r[0]) if sort == "sku" else (lambda r: (r[1].lower(), r[0]))
    return [r[0] for r in sorted(rows, key=key)]


def skus(api: Any, token: str, query: str = "", limit: int = 2) -> list[str]:
    path = "/products" + (f"?{query}" if query else "")
    return [item["sku"] for item in all_items(api, path, token, limit=limit)]


QUERIES = [
    {},
    {"sort": "name"},
    {"q": "anv"},
    {"q": "ANV", "sort": "name"},
    {"q": "anvil s"},
    {"q": "b"},
    {"q": "nothing"},
    {"stock": "low"},
    {"stock": "out", "sort": "name"},
    {"stock": "low", "q": "x-"},
    {"stock": "low", "q": "anv", "sort": "name"},
]


@pytest.mark.parametrize(
    "params", QUERIES, ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()) or "all"
)
@pytest.mark.parametrize("limit", [1, 2, 100])
def test_every_query_lists_every_match_once_in_its_order(api, tokens, shop, params, limit):
    query = "&".join(f"{k}={v.replace(' ', '%20')}" for k, v in params.items())
    assert skus(api, tokens["customer"], query, limit) == expected(**params)


def test_default_order_is_code_point_order_of_the_sku(api, tokens, shop):
    listed = skus(api, tokens["staff"])
    assert listed == sorted(sku for sku, *_ in CATALOG)
    assert listed[:3] == ["ANVIL-1", "Anv-9", "BOLT-1"]  # upper case before lower case


def test_name_order_ignores_case_and_ties_by_sku(api, tokens, shop):
    listed = skus(api, tokens["admin"], "sort=name", limit=3)
    assert listed[:4] == ["bolt-7", "ANVIL-1", "anvil-2", "X-1"]  # Anchor, Anvil, anvil, ANVIL S
    assert listed[4] == "x-0"


def test_a_page_shows_whole_products(api, tokens, shop):
    page = api.call("GET", "/products?q=anvil-2&limit=5", token=tokens["customer"]).json
    assert page["items"] == [shop["anvil-2"]] and page["next_cursor"] is None


def test_lists_follow_renames_sales_and_deletes(api, tokens, shop):
    admin = tokens["admin"]
    assert api.call("PATCH", "/products/CHISEL", {"name": "Aardvark"}, admin).status == 200
    assert skus(api, admin, "sort=name")[0] == "CHISEL"
    assert "CHISEL" in skus(api, admin, "q=aard")
    assert api.call("PUT", "/products/X-1", {"name": "Zebra", "price": "2.00"}, admin).status == 200
    assert skus(api, admin, "q=anvil%20s") == ["x-0"] and skus(api, admin, "q=zeb") == ["X-1"]
    assert "bolt-7" not in skus(api, admin, "stock=low")
    assert order(api, tokens["customer"], [("bolt-7", 48)]).status == 201
    assert "bolt-7" in skus(api, admin, "stock=low")
    assert order(api, tokens["customer"], [("bolt-7", 2)]).status == 201
    assert "bolt-7" in skus(api, admin, "stock=out")
    assert api.call("DELETE", "/products/bolt-7", token=admin).status == 204
    assert "bolt-7" not in skus(api, admin) + skus(api, admin, "stock=out")


def test_a_cursor_serves_only_its_own_query(api, tokens, shop):
    token = tokens["customer"]
    cursor = api.call("GET", "/products?q=anv&limit=1", token=token).json["next_cursor"]
    assert cursor
    assert api.call("GET", f"/products?q=anv&limit=1&cursor={cursor}", token=token).status == 200
    for other in ("q=an", "q=anv&sort=name", "q=anv&stock=low", "", "sort=name"):
        reply = api.call("GET", f"/products?{other}&limit=1&cursor={cursor}", token=token)
        assert reply.status == 400 and reply.json["code"] == "validation_error", other


@pytest.mark.parametrize(
    "query", ["sort=price", "sort=", "stock=none", "stock=LOW", "q=", "q=" + "a" * 101, "limit=0"]
)
def test_bad_parameters_are_400(api, tokens, shop, query):
    reply = api.call("GET", f"/products?{query}", token=tokens["customer"])
    assert reply.status == 400 and reply.json["code"] == "validation_error"


@pytest.mark.parametrize(
    "q", ["%00", "a%00", "%C3%A9", "%C3%89CL", "%F0%9F%94%A9", "%25", "ANVIL%20", "e"]
)
def test_any_text_is_a_search(api, tokens, shop, q):
    from urllib.parse import unquote

    assert skus(api, tokens["customer"], f"q={q}") == expected(q=unquote(q))


def test_a_page_leaves_out_what_its_index_entry_no_longer_shows(api, tokens, shop, monkeypatch):
    """Index entries are eventually consistent: a product restocked or renamed since its entry
    was read is checked again as read."""
    from chalicelib.inventory import catalog

    stale = [catalog.Entry("bolt-7", "anchor\0bolt-7"), catalog.Entry("Anv-9", "bellows\0Anv-9")]
    monkeypatch.setattr(catalog, "_stock_entries", lambda stock: stale)
    monkeypatch.setattr(catalog, "_matches", lambda q: stale)
    assert skus(api, tokens["customer"], "stock=low") == []  # bolt-7 has 50, Anv-9 threshold 0
    assert skus(api, tokens["customer"], "stock=out") == ["Anv-9"]
    assert skus(api, tokens["customer"], "q=anc") == ["bolt-7"]
    assert skus(api, tokens["customer"], "q=bel") == ["Anv-9"]


def test_indexes_that_stock_changes_write_carry_no_description():
    """The scale rule: a sale writes no catalog index, and a small entry into low_stock."""
    from chalicelib.store.models import LOW_STOCK_FIELDS, Product

    stock_fields = {"stock", "headroom", "updated_at"}
    for index in (Product.by_sku, Product.by_name, Product.by_sku_key):
        schema = index._get_schema()
        keys = {k["AttributeName"] for k in schema["key_schema"]}
        included = set(schema["projection"].get("NonKeyAttributes", []))
        assert not (keys | included) & stock_fields, index.Meta.index_name
        assert "description" not in keys | included
    low = Product.low_stock._get_schema()["projection"]
    assert low["ProjectionType"] == "INCLUDE" and set(low["NonKeyAttributes"]) == set(
        LOW_STOCK_FIELDS
    )
    assert "description" not in LOW_STOCK_FIELDS and "price" not in LOW_STOCK_FIELDS
