"""The capacity model (benchmarks/capacity.py): sizes and units as DynamoDB counts them, index
entry costs, how partition keys are classified, the ceiling arithmetic on a hand-made recording,
and that a real recording finds every write path."""

from __future__ import annotations

from dataclasses import replace

import pytest

from benchmarks import capacity as cap
from benchmarks.capacity import (
    Context,
    IndexSpec,
    KeyClass,
    Scenario,
    TableSpec,
    Touch,
    classify,
    entry_writes,
    item_size,
    read_units,
    value_size,
    write_units,
)

SHOP, ONE_SKU, ONE_CUSTOMER = cap.SCENARIOS


def s(text: str) -> dict:
    return {"S": text}


def n(text: str) -> dict:
    return {"N": text}


# ---- sizes and units -----------------------------------------------------------------------


def test_sizes_are_names_plus_values_as_dynamodb_counts_them():
    assert item_size({"sku": s("A-1")}) == 3 + 3
    assert item_size({"name": s("café")}) == 4 + 5  # UTF-8 bytes, not characters
    assert value_size(n("123")) == 3  # 3 significant digits: 2 bytes, + 1
    assert value_size(n("1.50")) == value_size(n("15")) == 2  # trailing zeros do not count
    assert value_size(n("-0.000012")) == 2
    assert value_size({"BOOL": True}) == value_size({"NULL": True}) == 1
    assert value_size({"L": [s("ab"), n("1")]}) == 3 + (1 + 2) + (1 + 2)
    assert value_size({"M": {"a": s("xy")}}) == 3 + 1 + (1 + 2)
    assert value_size({"L": []}) == value_size({"M": {}}) == 3
    assert value_size({"SS": ["a", "bc"]}) == 3
    assert item_size(None) == 0


def test_a_product_with_the_longest_description_costs_three_units_six_in_a_transaction():
    product = {
        "sku": s("DRILL-18V-0001"),
        "name": s("Brushless drill-driver 18 V, two batteries"),
        "description": s("x" * 2000),
        "price": n("129.9"),
        "stock": n("100000"),
        "incarnation": s("01JCX3Q5V9T6N2K8M4R7W1Y0ZB"),
        "created_at": s("2025-01-01T00:00:00.000Z"),
        "updated_at": s("2025-01-01T00:00:00.000Z"),
    }
    assert 2048 < item_size(product) <= 3072
    assert write_units(item_size(product)) == 3
    assert write_units(item_size(product), transactional=True) == 6


def test_units_round_up_per_kb_written_and_per_4_kb_read():
    assert [write_units(b) for b in (0, 1, 1024, 1025, 3072)] == [1, 1, 1, 2, 3]
    assert write_units(1025, transactional=True) == 4
    assert read_units(0, consistent=True) == 1  # an item not found still costs a unit
    assert read_units(4096, consistent=True) == 1
    assert read_units(4097, consistent=True) == 2
    assert read_units(4097, consistent=False) == 1
    assert read_units(100, consistent=False) == 0.5
    assert read_units(100, consistent=True, transactional=True) == 2


# ---- index entries ---------------------------------------------------------------------------

LOW = IndexSpec("low", "alert_shard", "headroom", "INCLUDE", ("name",))
EVERY = IndexSpec("every", "listed", "sku", "ALL")
SPARSE = IndexSpec("sparse", "flag", "sku", "KEYS_ONLY")
PRODUCTS = TableSpec("products", "sku", None, (LOW, EVERY, SPARSE))


def product(**changes: dict) -> dict:
    item = {
        "sku": s("A-1"),
        "name": s("Anvil"),
        "description": s("Forged steel"),
        "alert_shard": n("3"),
        "headroom": n("10"),
        "listed": s("all"),
        "flag": s("y"),
    }
    return {**item, **changes}


def test_an_entry_is_its_projected_attributes_plus_100_bytes():
    (put,) = entry_writes(None, product(), PRODUCTS, LOW)
    kept = ("sku", "alert_shard", "headroom", "name")
    projected = {k: v for k, v in product().items() if k in kept}
    assert (put.action, put.size, put.units) == ("put", item_size(projected) + 100, 1)
    (put,) = entry_writes(None, product(), PRODUCTS, SPARSE)
    assert put.size == item_size({"sku": s("A-1"), "flag": s("y")}) + 100
    (put,) = entry_writes(None, product(), PRODUCTS, EVERY)
    assert put.size == item_size(product()) + 100


def test_an_entry_whose_index_key_moves_is_a_delete_and_a_put():
    moved = entry_writes(product(), product(headroom=n("9")), PRODUCTS, LOW)
    assert [w.action for w in moved] == ["delete", "put"]
    assert [w.key for w in moved] == [n("3"), n("3")]  # the same shard: the same partition
    assert sum(w.units for w in moved) == 2


def test_an_entry_is_rewritten_only_when_what_it_projects_changes():
    described = product(description=s("Cast iron"))
    assert entry_writes(product(), described, PRODUCTS, LOW) == []  # not projected
    assert entry_writes(product(), described, PRODUCTS, SPARSE) == []
    (rewrite,) = entry_writes(product(), described, PRODUCTS, EVERY)  # ALL projects it
    assert rewrite.action == "rewrite" and rewrite.units == 1
    (renamed,) = entry_writes(product(), product(name=s("Big anvil")), PRODUCTS, LOW)
    assert renamed.action == "rewrite"


def test_leaving_or_entering_a_sparse_index_is_one_write():
    unflagged = {k: v for k, v in product().items() if k != "flag"}
    assert [w.action for w in entry_writes(product(), unflagged, PRODUCTS, SPARSE)] == ["delete"]
    assert [w.action for w in entry_writes(unflagged, product(), PRODUCTS, SPARSE)] == ["put"]
    assert [w.action for w in entry_writes(product(), None, PRODUCTS, EVERY)] == ["delete"]


# ---- classification --------------------------------------------------------------------------

CTX = Context(
    skus=frozenset({"A-1", "A-10"}),
    users=frozenset({"CUSTOMER1"}),
    ids=frozenset({"ORDER1", "CUSTOMER1#sales-orders#key-1"}),
    shards={"low_stock_shards": 4, "list_shards": 32, "hold_shards": 16},
    stock_shards=64,
)


@pytest.mark.parametrize(
    ("attribute", "value", "expected"),
    [
        ("sku", s("A-1"), KeyClass("sku", sku="A-1")),
        ("sku", s("A-10"), KeyClass("sku", sku="A-10")),  # not A-1's
        ("ledger", s("A-1#01JINCARNATION"), KeyClass("sku", sku="A-1")),
        ("sku", s("A-1#7"), KeyClass("sku", sku="A-1", parts=64)),
        ("ledger", s("A-1#01JINCARNATION#7"), KeyClass("sku", sku="A-1", parts=64)),
        ("list_key", s("all"), KeyClass("shards", n=32, setting="list_shards")),
        ("list_key", s("all#5"), KeyClass("shards", n=32, setting="list_shards")),
        ("status_key", s("active#3"), KeyClass("shards", n=16, setting="hold_shards")),
        ("expiry_shard", n("3"), KeyClass("shards", n=16, setting="hold_shards")),
        ("id", s("ORDER1"), KeyClass("unique")),
        ("key", s("CUSTOMER1#sales-orders#key-1"), KeyClass("unique")),  # a marker: its own
        ("customer_key", s("CUSTOMER1"), KeyClass("user", user="CUSTOMER1")),
        ("visible_status", s("open"), KeyClass("constant", value="open")),
    ],
)
def test_keys_are_classified_by_how_traffic_spreads_over_them(attribute, value, expected):
    assert classify(attribute, value, CTX) == expected


def test_a_shard_of_a_per_sku_item_is_that_skus_and_a_missing_setting_is_one_shard():
    owner = classify("sku", s("A-1"), CTX)
    assert classify("alert_shard", n("2"), CTX, owner) == KeyClass(
        "shards", n=4, setting="low_stock_shards", sku="A-1"
    )
    assert classify("list_key", s("all"), Context()).n == 1


# ---- ceilings --------------------------------------------------------------------------------


def sku_touches(sku: str, parts: int = 1) -> list[Touch]:
    """What one sale line puts on its sku: the product (6 units, locked) and its index entry."""
    key = KeyClass("sku", sku=sku, parts=parts)
    shard = KeyClass("shards", n=4, setting="low_stock_shards", sku=sku)
    return [
        Touch("products", "write", key, 6),
        Touch("products", "lock", key, 1),
        Touch("products/low_stock", "write", shard, 2),
    ]


SALE = [
    *sku_touches("A-1"),
    Touch("orders", "write", KeyClass("unique"), 2),
    Touch("orders/all", "write", KeyClass("shards", n=1, setting="list_shards"), 1),
    Touch("orders/by_customer", "write", KeyClass("user", user="C"), 1),
    Touch("users", "read", KeyClass("user", user="C"), 1),
]


def test_the_shop_wide_ceiling_is_the_lowest_partition_family():
    found = cap.funnels(SALE, SHOP)
    assert found[0].resource == "orders/all" and found[0].ceiling == 1000  # one list partition
    rates = {f.resource + " " + f.kind: f.ceiling for f in found}
    assert rates["products/low_stock write"] == 1000 * 4 / 2
    assert rates["products write"] == pytest.approx(1000 * cap.SKUS / 6)
    assert rates["products lock"] == 100 * cap.SKUS
    assert rates["users read"] == 3000 * cap.CUSTOMERS
    assert "orders write" not in rates  # a unique key is shared with no other operation


def test_one_sku_is_bound_by_its_item_lock_which_moves_with_the_lock_time():
    assert cap.ceiling(SALE, ONE_SKU).label == "products item lock, per sku"
    assert [cap.ceiling(SALE, ONE_SKU, ms).ceiling for ms in (5, 10, 25, 50)] == [
        pytest.approx(1000 / 6),  # at 5 ms the 6-unit product write binds first
        100,
        40,
        20,
    ]
    rates = {f.resource: f.ceiling for f in cap.funnels(SALE, ONE_SKU) if f.kind == "write"}
    assert rates["products/low_stock"] == 500  # one sku's entry stays in one shard


def test_one_customer_is_bound_by_the_per_customer_partitions():
    sale = [t for t in SALE if t.resource != "orders/all"]
    found = cap.ceiling(sale, ONE_CUSTOMER)
    assert found.resource == "orders/by_customer" and found.ceiling == 1000


def test_lines_of_many_skus_add_up_shop_wide_but_not_on_one_sku():
    order = [t for i in range(25) for t in sku_touches(f"S-{i}")]
    rates = {f.resource + " " + f.kind: f.ceiling for f in cap.funnels(order, SHOP)}
    assert rates["products write"] == pytest.approx(1000 * cap.SKUS / (25 * 6))
    assert rates["products/low_stock write"] == pytest.approx(1000 * 4 / 50)
    assert cap.ceiling(order, ONE_SKU).ceiling == 100
    # A flash sale's basket: one hot sku in parts, the other lines spread over the catalogue.
    hot = sku_touches("S-0", parts=64)
    cold = [replace(t, key=replace(t.key, hot=False)) for t in order[3:]]
    found = cap.ceiling(hot + cold, ONE_SKU)
    assert found.resource == "products/low_stock"
    assert found.ceiling == pytest.approx(4000 / 48)  # the 24 cold lines over 4 shards


def test_stock_parts_spread_one_skus_lock_and_units():
    parts = [
        Touch("parts", "write", KeyClass("sku", sku="A-1", parts=64), 2),
        Touch("parts", "lock", KeyClass("sku", sku="A-1", parts=64), 1),
    ]
    assert cap.ceiling(parts, ONE_SKU).ceiling == 64 * 100
    assert cap.ceiling(parts, Scenario("tiny", skus=2)).ceiling == 2 * 64 * 100
    assert cap.ceiling([Touch("orders", "write", KeyClass("unique"), 2)], SHOP) is None


def test_the_skus_own_item_is_part_zero_unless_other_parts_are_touched_with_it():
    own, part = KeyClass("sku", sku="A-1"), KeyClass("sku", sku="A-1", parts=64)
    alone = [Touch("products", "write", own, 6), Touch("products", "lock", own, 1)]
    assert [t.key.parts for t in cap.part_zero(alone, 64)] == [64, 64]
    assert cap.part_zero(alone, 1) == alone
    beside = [
        Touch("products", "read", own, 1),
        Touch("stock-parts", "read", part, 63),
        Touch("stock-parts", "write", part, 2),
    ]
    assert [t.key.parts for t in cap.part_zero(beside, 64)] == [1, 64, 64]  # read every time
    assert cap.ceiling(cap.part_zero(beside, 64), ONE_SKU).resource == "products"


def test_a_recorded_path_becomes_touches_with_its_transaction_and_index_costs():
    tables = {
        "t-products": TableSpec("products", "sku", None, (LOW,)),
        "t-orders": TableSpec("orders", "id", None, (IndexSpec("all", "list_key", "id", "ALL"),)),
        "t-movements": TableSpec("movements", "ledger", "id"),
    }
    order = {"id": s("ORDER1"), "list_key": s("all")}
    movement = {"ledger": s("A-1#INC"), "id": s("MOVE1")}
    path = {
        "about": {"skus": ["A-1"], "users": ["C"], "ids": []},
        "writes": [
            {"table": "t-products", "action": "Update", "transactional": True,
             "key": {"sku": s("A-1")}, "before": product(), "after": product(headroom=n("9"))},
            {"table": "t-orders", "action": "Put", "transactional": True,
             "key": {"id": s("ORDER1")}, "before": None, "after": order},
            {"table": "t-movements", "action": "Put", "transactional": True,
             "key": movement, "before": None, "after": movement},
        ],
        "reads": [
            {"op": "BatchGetItem", "table": "t-products", "index": None, "attribute": "sku",
             "value": s("A-1"), "values": [s("A-1")], "consistent": True, "sizes": [5000]},
        ],
    }  # fmt: skip
    touches = cap.touches_of(path, tables, {"list_shards": 1, "low_stock_shards": 4})
    by = {(t.resource, t.kind, t.what): t for t in touches}
    assert by[("products", "write", "Update (tx)")].units == 2
    assert by[("products", "lock", "Update (tx)")].key.kind == "sku"
    assert by[("orders", "lock", "Put (tx)")].key.kind == "unique"  # created: its own id
    assert by[("movements", "write", "Put (tx)")].key == KeyClass("sku", sku="A-1")
    assert by[("movements", "lock", "Put (tx)")].key.kind == "unique"  # a new item
    assert by[("orders/all", "write", "entry put")].key.n == 1
    assert by[("products", "read", "BatchGetItem")].units == 2  # 5,000 bytes: 2 x 4 KB
    assert {t.what for t in touches if t.resource == "products/low"} == {
        "entry delete",
        "entry put",
    }
    found = cap.ceiling(touches, SHOP)
    assert (found.resource, found.ceiling) == ("orders/all", 1000)
    assert cap.ceiling(touches, ONE_SKU).ceiling == 100


def test_the_query_key_is_read_from_its_key_condition():
    params = {
        "KeyConditionExpression": "#0 = :0 AND #1 < :1",
        "ExpressionAttributeNames": {"#0": "alert_shard", "#1": "headroom"},
        "ExpressionAttributeValues": {":0": n("2"), ":1": n("0")},
    }
    assert cap.query_hash_value(params, "alert_shard") == n("2")


# ---- the recording ----------------------------------------------------------------------------


def test_a_recording_finds_every_write_path_and_what_it_writes():
    recording = cap.recorded("today", flash=False)  # a process of its own, ~5 s
    assert recording["shards"]["low_stock_shards"] == 4
    assert recording["shards"].get("list_shards", 1) == 1
    paths = {path["name"]: path for path in recording["families"]["default"]}
    assert set(paths) == {
        "sale, 1 line",
        "sale, 25 lines",
        "cancellation",
        "purchase",
        "reversal",
        "adjustment",
        "return",
        "hold",
        "conversion",
        "release",
        "low-stock check (5 low)",
    }
    touches = cap.path_touches(recording, "default")
    for name, path in paths.items():
        assert path["writes"], name
        assert path["failed_calls"] == 0, name
    for name in ("sale, 1 line", "sale, 25 lines", "conversion"):
        written = {t.resource for t in touches[name] if t.kind == "write"}
        assert {"sales-orders", "movements"} <= written, (name, written)
        assert any(t.kind == "lock" and t.key.kind == "sku" for t in touches[name]), name
    skus = {t.key.sku for t in touches["sale, 25 lines"] if t.key.kind == "sku"}
    assert len(skus) == 25
    assert "holds" in {t.resource for t in touches["hold"] if t.kind == "write"}
    check_reads = {t.resource for t in touches["low-stock check (5 low)"] if t.kind == "read"}
    assert any(r.startswith("products/") for r in check_reads), check_reads
