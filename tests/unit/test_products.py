"""/products: the catalog, its validation rules, and the stock ledger of adjustments."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest

from chalicelib.store.models import Product
from tests.unit.helpers import PRODUCT_KEYS, Api

# Fixtures shared with test_auth (one moto per module, tables emptied between tests).


def product(**overrides: object) -> dict:
    return {"sku": "WID-1", "name": "Widget", "price": "19.99", **overrides}


def create(api: Api, token: str, **overrides: object):
    return api.call("POST", "/products", product(**overrides), token)


def ledger(api: Api, token: str, sku: str, limit: int = 100) -> list[dict]:
    """Every movement, following next_cursor."""
    items: list[dict] = []
    cursor = ""
    while True:
        reply = api.call("GET", f"/products/{sku}/movements?limit={limit}{cursor}", token=token)
        assert reply.status == 200, reply.json
        items += reply.json["items"]
        if reply.json["next_cursor"] is None:
            return items
        cursor = f"&cursor={reply.json['next_cursor']}"


def assert_validation(reply, field: str | None = None) -> None:
    assert reply.status == 400, (reply.status, reply.json)
    assert reply.json["code"] == "validation_error", reply.json
    if field is not None:
        assert any(d["field"] == field for d in reply.json["details"]), reply.json


# ---- create -------------------------------------------------------------------------------------


def test_create_with_defaults(api, tokens):
    reply = create(api, tokens["admin"])
    assert reply.status == 201, reply.json
    body = reply.json
    assert set(body) == PRODUCT_KEYS
    assert (body["stock"], body["low_stock_threshold"], body["description"]) == (0, 5, "")
    assert body["price"] == "19.99" and body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z")
    assert api.call("GET", "/products/WID-1", token=tokens["customer"]).json == body
    assert [
        (m["kind"], m["quantity_change"], m["reference"])
        for m in ledger(api, tokens["staff"], "WID-1")
    ] == [("initial", 0, None)]


def test_duplicate_sku_is_409_and_case_sensitive(api, tokens):
    assert create(api, tokens["admin"]).status == 201
    reply = create(api, tokens["admin"], name="Other")
    assert reply.status == 409 and reply.json["code"] == "sku_exists"
    assert create(api, tokens["admin"], sku="wid-1").status == 201  # another sku


# Rule tables are looped over in one test each (not parametrized): one fixture setup, not 70.
SKU_CASES = [
    ("A", True),
    ("a.b_c-D9", True),
    ("x" * 64, True),
    ("x" * 65, False),
    ("", False),
    ("has space", False),
    ("slash/no", False),
    ("\u00e9", False),
    ("a#b", False),
    (5, False),
    (None, False),
]
FIELD_CASES = [
    ("name", "", False),
    ("name", "n" * 200, True),
    ("name", "n" * 201, False),
    ("name", "Snowman \u2603 \U0001f600", True),
    ("name", 5, False),
    ("name", None, False),
    ("description", "", True),
    ("description", "d" * 2000, True),
    ("description", "d" * 2001, False),
    ("description", None, False),
    ("stock", 0, True),
    ("stock", 1_000_000_000, True),
    ("stock", 1_000_000_001, False),
    ("stock", -1, False),
    ("stock", "5", False),
    ("stock", 5.0, False),
    ("stock", 5.5, False),
    ("stock", True, False),
    ("stock", 10**30, False),
    ("low_stock_threshold", 0, True),
    ("low_stock_threshold", -1, False),
    ("low_stock_threshold", "5", False),
    ("low_stock_threshold", 1.0, False),
]
PRICES_ACCEPTED = [
    ("19.99", "19.99"),
    ("19.9", "19.90"),
    ("19", "19.00"),
    ("0.01", "0.01"),
    (19.99, "19.99"),
    (5, "5.00"),
    (0.1, "0.10"),
    (1e2, "100.00"),
    ("999999999.99", "999999999.99"),
    (" 7.5 ", "7.50"),
]
PRICES_REJECTED = [
    "19.999",
    19.999,
    "-1",
    -1,
    "0",
    0,
    0.0,
    "0.00",
    True,
    False,
    None,
    "",
    "abc",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "1e400",
    "1e-400",
    "1e2",
    "1_000",
    " ",
    "0x10",
    [1],
    {"amount": 1},
    "1000000000",
    10**20,
    "19.99.1",
    "+5",
    "5.",
    ".5",
    "\uff15",
]


def test_sku_rules(api, tokens):
    for sku, ok in SKU_CASES:
        reply = create(api, tokens["admin"], sku=sku)
        if ok:
            assert reply.status == 201 and reply.json["sku"] == sku, sku
        else:
            assert_validation(reply, "sku")


def test_field_rules(api, tokens):
    for n, (field, value, ok) in enumerate(FIELD_CASES):
        reply = create(api, tokens["admin"], sku=f"F{n}", **{field: value})
        if ok:
            assert reply.status == 201, (field, value, reply.json)
            assert reply.json[field] == value
        else:
            assert_validation(reply, field)


def test_price_accepted(api, tokens):
    for n, (price, stored) in enumerate(PRICES_ACCEPTED):
        reply = create(api, tokens["admin"], sku=f"P{n}", price=price)
        assert reply.status == 201, (price, reply.json)
        assert reply.json["price"] == stored
        assert api.call("GET", f"/products/P{n}", token=tokens["admin"]).json["price"] == stored


def test_price_rejected(api, tokens):
    for price in PRICES_REJECTED:
        assert_validation(create(api, tokens["admin"], price=price), "price")
    assert api.call("GET", "/products", token=tokens["admin"]).json["items"] == []


def test_price_never_goes_through_a_binary_float(api, tokens):
    # 0.1 + 0.2 in floats is 0.30000000000000004; a raw JSON number must stay exact.
    reply = api.call(
        "POST", "/products", raw=b'{"sku":"F","name":"F","price":1.10}', token=tokens["admin"]
    )
    assert reply.status == 201 and reply.json["price"] == "1.10"
    reply = api.call(
        "POST", "/products", raw=b'{"sku":"G","name":"G","price":1.005}', token=tokens["admin"]
    )
    assert_validation(reply, "price")


def test_missing_required_fields(api, tokens):
    for missing in ("sku", "name", "price"):
        body = product()
        del body[missing]
        assert_validation(api.call("POST", "/products", body, tokens["admin"]), missing)


# ---- roles --------------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["staff", "customer"])
def test_only_admins_change_the_catalog(api, tokens, caller):
    assert create(api, tokens["admin"]).status == 201
    token = tokens[caller]
    for method, path, body in [
        ("POST", "/products", product(sku="NEW")),
        ("PUT", "/products/WID-1", product()),
        ("PATCH", "/products/WID-1", {"stock": 1}),
        ("DELETE", "/products/WID-1", None),
    ]:
        reply = api.call(method, path, body, token)
        assert reply.status == 403 and reply.json["code"] == "forbidden", (method, reply.json)
    assert api.call("GET", "/products/WID-1", token=token).json["stock"] == 0


def test_movements_are_for_admin_and_staff(api, tokens):
    assert create(api, tokens["admin"]).status == 201
    assert api.call("GET", "/products/WID-1/movements", token=tokens["admin"]).status == 200
    assert api.call("GET", "/products/WID-1/movements", token=tokens["staff"]).status == 200
    reply = api.call("GET", "/products/WID-1/movements", token=tokens["customer"])
    assert reply.status == 403 and reply.json["code"] == "forbidden"


# ---- read, replace, patch, delete ---------------------------------------------------------------


@pytest.mark.parametrize("sku", ["NOPE", "x" * 65, "x" * 3000, "sp%20ace", "%F0%9F%98%80"])
def test_unknown_sku_is_404(api, tokens, sku):
    admin = tokens["admin"]
    for method, body in [
        ("GET", None),
        ("PUT", {"name": "x", "price": 1}),
        ("PATCH", {"name": "x"}),
        ("PATCH", {"stock": 3}),
        ("DELETE", None),
    ]:
        reply = api.call(method, f"/products/{sku}", body, admin)
        assert reply.status == 404 and reply.json["code"] == "not_found", (method, reply.json)
    reply = api.call("GET", f"/products/{sku}/movements", token=admin)
    assert reply.status == 404 and reply.json["code"] == "not_found"


def test_a_sku_that_cannot_exist_is_not_looked_up(api, tokens):
    # DynamoDB rejects keys over 2048 bytes (a 500); moto only checks that on writes.
    with mock.patch.object(Product, "get", side_effect=AssertionError("looked up")):
        reply = api.call("GET", f"/products/{'x' * 3000}", token=tokens["admin"])
    assert reply.status == 404, reply.json


def test_put_replaces_fields_and_stock_is_optional(api, tokens):
    admin = tokens["admin"]
    assert create(api, admin, description="old", stock=10, low_stock_threshold=2).status == 201
    reply = api.call("PUT", "/products/WID-1", {"name": "New", "price": 5}, admin)
    assert reply.status == 200, reply.json
    body = reply.json
    # Replaced: the omitted description and threshold take their defaults; stock is kept.
    assert (
        body["name"],
        body["price"],
        body["description"],
        body["low_stock_threshold"],
        body["stock"],
    ) == ("New", "5.00", "", 5, 10)
    assert body["updated_at"] >= body["created_at"]
    reply = api.call("PUT", "/products/WID-1", {"name": "N", "price": "1", "stock": 4}, admin)
    assert reply.status == 200 and reply.json["stock"] == 4
    assert [m["quantity_change"] for m in ledger(api, admin, "WID-1")] == [-6, 10]
    assert_validation(api.call("PUT", "/products/WID-1", {"name": "N"}, admin), "price")
    assert_validation(api.call("PUT", "/products/WID-1", product(), admin), "sku")  # immutable


def test_patch_changes_a_subset(api, tokens):
    admin = tokens["admin"]
    created = create(api, admin, description="keep", stock=7).json
    reply = api.call("PATCH", "/products/WID-1", {"price": "2.50"}, admin)
    assert reply.status == 200, reply.json
    assert reply.json == {**created, "price": "2.50", "updated_at": reply.json["updated_at"]}
    reply = api.call("PATCH", "/products/WID-1", {}, admin)
    assert reply.status == 200 and reply.json["price"] == "2.50"
    assert len(ledger(api, admin, "WID-1")) == 1  # no stock change: no movement


@pytest.mark.parametrize("field", ["name", "description", "price", "low_stock_threshold", "stock"])
def test_patch_rejects_null(api, tokens, field):
    assert create(api, tokens["admin"]).status == 201
    assert_validation(api.call("PATCH", "/products/WID-1", {field: None}, tokens["admin"]), field)


def test_patch_rejects_unknown_and_immutable_fields(api, tokens):
    assert create(api, tokens["admin"]).status == 201
    for body in ({"sku": "OTHER"}, {"created_at": "2020-01-01T00:00:00Z"}, {"colour": "red"}):
        assert_validation(api.call("PATCH", "/products/WID-1", body, tokens["admin"]))
    assert api.call("GET", "/products/WID-1", token=tokens["admin"]).json["sku"] == "WID-1"


def test_patch_stock_records_corrections_newest_first(api, tokens):
    admin = tokens["admin"]
    assert create(api, admin, stock=10).status == 201
    for stock in (3, 3, 50, 0, 12):
        reply = api.call("PATCH", "/products/WID-1", {"stock": stock}, admin)
        assert reply.status == 200 and reply.json["stock"] == stock
    movements = ledger(api, admin, "WID-1", limit=2)
    # The same stock twice is a count that found it in place: a movement of 0.
    assert [(m["kind"], m["quantity_change"]) for m in movements] == [
        ("adjustment", 12),
        ("adjustment", -50),
        ("adjustment", 47),
        ("adjustment", 0),
        ("adjustment", -7),
        ("initial", 10),
    ]
    admin_id = api.call("GET", "/auth/me", token=admin).json["id"]
    assert all(m["actor"] == admin_id for m in movements)
    assert [m["reason"] for m in movements] == ["correction"] * 5 + [None]
    assert all(m["note"] is None for m in movements)
    assert all(m["reference"] is None and m["at"].endswith("Z") for m in movements)
    assert [m["at"] for m in movements] == sorted((m["at"] for m in movements), reverse=True)
    assert sum(m["quantity_change"] for m in movements) == 12


def test_concurrent_stock_adjustments_keep_the_ledger_exact(api, tokens, atomic_moto):
    admin = tokens["admin"]
    assert create(api, admin, stock=100).status == 201
    targets = list(range(20))

    def adjust(stock: int) -> int:
        return api.call("PATCH", "/products/WID-1", {"stock": stock}, admin).status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(adjust, targets))
    assert set(statuses) <= {200, 503}, statuses  # 503: retries ran out, nothing written
    assert statuses.count(200) >= 1
    final = api.call("GET", "/products/WID-1", token=admin).json["stock"]
    assert final in targets
    movements = ledger(api, admin, "WID-1")
    assert sum(m["quantity_change"] for m in movements) == final
    assert len(movements) <= statuses.count(200) + 1


def test_delete_then_recreate_starts_a_fresh_ledger(api, tokens):
    admin = tokens["admin"]
    assert create(api, admin, stock=9).status == 201
    assert api.call("PATCH", "/products/WID-1", {"stock": 4}, admin).status == 200
    reply = api.call("DELETE", "/products/WID-1", token=admin)
    assert reply.status == 204 and not reply.body
    assert api.call("GET", "/products/WID-1", token=admin).status == 404
    assert api.call("GET", "/products/WID-1/movements", token=admin).status == 404
    assert api.call("DELETE", "/products/WID-1", token=admin).status == 404
    assert create(api, admin, stock=2, price="3.00").status == 201
    assert [(m["kind"], m["quantity_change"]) for m in ledger(api, admin, "WID-1")] == [
        ("initial", 2)
    ]
    assert api.call("GET", "/products/WID-1", token=admin).json["price"] == "3.00"


# ---- list ---------------------------------------------------------------------------------------


def test_list_pages_yield_every_product_once(api, tokens):
    skus = {f"P-{i:02d}" for i in range(23)}
    for sku in skus:
        assert create(api, tokens["admin"], sku=sku).status == 201
    for limit in (1, 5, 23, 100):
        seen: list[str] = []
        cursor = ""
        for _ in range(60):
            reply = api.call("GET", f"/products?limit={limit}{cursor}", token=tokens["customer"])
            assert reply.status == 200, reply.json
            assert len(reply.json["items"]) <= limit
            seen += [p["sku"] for p in reply.json["items"]]
            if reply.json["next_cursor"] is None:
                break
            cursor = f"&cursor={reply.json['next_cursor']}"
        assert sorted(seen) == sorted(skus), limit


def test_list_default_limit_is_20(api, tokens):
    for i in range(21):
        assert create(api, tokens["admin"], sku=f"D{i}").status == 201
    reply = api.call("GET", "/products", token=tokens["staff"])
    assert len(reply.json["items"]) == 20 and reply.json["next_cursor"]
    assert set(reply.json["items"][0]) == PRODUCT_KEYS


def test_a_threshold_change_racing_a_stock_adjustment_keeps_headroom_exact(api, tokens):
    """headroom (stock - threshold) drives the low-stock index: an adjustment computed from a
    threshold that changed before its write must be tried again, not write a stale headroom."""
    from chalicelib.store import db
    from chalicelib.store.models import Product

    admin = tokens["admin"]
    assert (
        api.call(
            "POST",
            "/products",
            {"sku": "RACE", "name": "Race", "price": "1.00", "stock": 10, "low_stock_threshold": 5},
            admin,
        ).status
        == 201
    )
    raced: list[int] = []

    def change_threshold_first(**kwargs):
        if not raced:
            raced.append(1)
            reply = api.call("PATCH", "/products/RACE", {"low_stock_threshold": 50}, admin)
            raced.append(reply.status)

    events = db.client().meta.events
    events.register(
        "before-call.dynamodb.TransactWriteItems",
        change_threshold_first,
        unique_id="threshold-race",
    )
    try:
        reply = api.call("PATCH", "/products/RACE", {"stock": 20}, admin)
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="threshold-race")
    assert raced == [1, 200] and reply.status == 200
    stored = Product.get("RACE", consistent_read=True)
    assert (stored.stock, stored.low_stock_threshold, stored.headroom) == (20, 50, -30)


def test_a_threshold_sent_unchanged_never_overwrites_one_changed_since_the_read(api, tokens):
    """PUT always sends the threshold. If another admin changed it after this PUT's read, the
    write must not put the old one back while keeping the other's headroom: available would
    then count units that are not there (and a sale could take them)."""
    from chalicelib.inventory import catalog, products

    admin = tokens["admin"]
    body = {"sku": "T", "name": "T", "price": "1.00", "stock": 20, "low_stock_threshold": 10}
    assert api.call("POST", "/products", body, admin).status == 201
    stale = Product.get("T", consistent_read=True)
    changed = api.call("PATCH", "/products/T", {"low_stock_threshold": 5}, admin)
    assert changed.status == 200
    reads = iter([stale])  # the first read is from before the PATCH, a retry reads afresh
    with mock.patch.object(
        products,
        "get_product",
        side_effect=lambda sku: next(reads, None) or catalog.get_product(sku),
    ):
        products.update_product("admin", "T", {"name": "T2", "low_stock_threshold": 10})
    shown = api.call("GET", "/products/T", token=admin).json
    assert (shown["name"], shown["low_stock_threshold"]) == ("T2", 10)
    assert shown["available"] == shown["stock"] - shown["held"] == 20
    too_many = {"items": [{"sku": "T", "quantity": 21}]}
    assert api.call("POST", "/sales-orders", too_many, admin).status == 409
