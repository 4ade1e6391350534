"""Purchase orders: roles, validation, stock rising with its movement, lists, reversal (409 when
stock is short), idempotency, low-stock episodes, and stock == sum(movements)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from chalicelib.store.models import AlertState, Notification, Purchase
from tests.unit.helpers import (
    PURCHASES,
    add_product,
    all_items,
    assert_ledger,
    buy,
    movements,
    order,
    stock,
)


def test_a_purchase_raises_stock_with_its_movement(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    me = api.call("GET", "/auth/me", token=tokens["staff"]).json
    reply = buy(api, tokens["staff"], quantity=25, purchase_date="2024-02-29", unit_cost=1.5)
    assert reply.status == 201, reply.json
    body = reply.json
    assert {k: v for k, v in body.items() if k not in ("id", "created_at")} == {
        "sku": "A",
        "product_name": "Item A",
        "quantity": 25,
        "supplier_name": "Acme",
        "purchase_date": "2024-02-29",
        "unit_cost": "1.50",
        "created_by": me["id"],
    }
    assert stock("A") == 35
    last = movements("A")[-1]
    assert (last.kind, last.quantity_change, last.reference) == ("purchase", 25, body["id"])
    assert_ledger("A")
    assert api.call("GET", f"{PURCHASES}/{body['id']}", token=tokens["admin"]).json == body


def test_defaults_today_utc_and_no_unit_cost(api, tokens):
    add_product(api, tokens["admin"], "A")
    body = buy(api, tokens["admin"]).json
    assert body["purchase_date"] == datetime.now(UTC).date().isoformat()
    assert body["unit_cost"] is None


def test_roles(api, tokens):
    add_product(api, tokens["admin"], "A")
    made = buy(api, tokens["admin"]).json
    assert buy(api, tokens["customer"]).status == 403
    assert api.call("GET", PURCHASES, token=tokens["customer"]).status == 403
    assert api.call("GET", f"{PURCHASES}/{made['id']}", token=tokens["customer"]).status == 403
    assert api.call("DELETE", f"{PURCHASES}/{made['id']}", token=tokens["staff"]).status == 403
    assert api.call("DELETE", f"{PURCHASES}/{made['id']}", token=tokens["customer"]).status == 403
    assert buy(api, "").status == 401
    assert stock("A") == 15


def test_unknown_sku_is_422(api, tokens):
    reply = buy(api, tokens["admin"], sku="NOPE")
    assert reply.status == 422 and reply.json["code"] == "unknown_sku"
    assert api.call("GET", PURCHASES, token=tokens["admin"]).json["items"] == []


def test_invalid_purchases_are_400(api, tokens):
    add_product(api, tokens["admin"], "A")
    for extra in (
        {"quantity": 0},
        {"quantity": 1_000_001},
        {"quantity": "5"},
        {"supplier_name": ""},
        {"supplier_name": "s" * 201},
        {"purchase_date": "2024-02-30"},
        {"purchase_date": "29/02/2024"},
        {"purchase_date": "2024-2-9"},
        {"unit_cost": "1.234"},
        {"unit_cost": 0},
        {"unit_cost": "-1"},
        {"unit_cost": True},
        {"price": "1.00"},
    ):
        reply = buy(api, tokens["admin"], **extra)
        assert reply.status == 400 and reply.json["code"] == "validation_error", (extra, reply.json)
    assert api.call("POST", PURCHASES, {"sku": "A"}, tokens["admin"]).status == 400
    assert stock("A") == 10


def test_limits_are_inclusive(api, tokens):
    add_product(api, tokens["admin"], "A", stock=0)
    assert buy(api, tokens["admin"], quantity=1_000_000, supplier_name="s" * 200).status == 201
    assert stock("A") == 1_000_000


def test_list_is_newest_first_and_pages_cover_everything_once(api, tokens):
    add_product(api, tokens["admin"], "A")
    made = [buy(api, tokens["staff"], quantity=i + 1).json["id"] for i in range(9)]
    # Spread over the list's shards (no partition takes every purchase), merged newest first.
    assert len({Purchase.get(purchase_id).list_key for purchase_id in made}) > 1
    for token in (tokens["admin"], tokens["staff"]):
        assert [p["id"] for p in all_items(api, PURCHASES, token, limit=2)] == made[::-1]
    assert api.call("GET", f"{PURCHASES}?cursor=nope", token=tokens["admin"]).status == 400


def test_get_unknown_is_404(api, tokens):
    for purchase_id in ("01NOSUCHPURCHASE", "y" * 200):
        reply = api.call("GET", f"{PURCHASES}/{purchase_id}", token=tokens["staff"])
        assert reply.status == 404 and reply.json["code"] == "not_found"


def test_reversal_takes_the_quantity_back(api, tokens):
    add_product(api, tokens["admin"], "A", stock=10)
    made = buy(api, tokens["staff"], quantity=7).json
    reply = api.call("DELETE", f"{PURCHASES}/{made['id']}", token=tokens["admin"])
    assert reply.status == 204, reply.json
    assert stock("A") == 10
    last = movements("A")[-1]
    assert (last.kind, last.quantity_change, last.reference) == (
        "purchase_reversed",
        -7,
        made["id"],
    )
    assert_ledger("A")
    assert api.call("GET", f"{PURCHASES}/{made['id']}", token=tokens["admin"]).status == 404
    assert api.call("GET", PURCHASES, token=tokens["admin"]).json["items"] == []
    assert api.call("DELETE", f"{PURCHASES}/{made['id']}", token=tokens["admin"]).status == 404
    assert stock("A") == 10


def test_reversal_with_too_little_stock_is_409_and_changes_nothing(api, tokens):
    add_product(api, tokens["admin"], "A", stock=0)
    made = buy(api, tokens["staff"], quantity=5).json
    assert order(api, tokens["customer"], [("A", 3)]).status == 201
    reply = api.call("DELETE", f"{PURCHASES}/{made['id']}", token=tokens["admin"])
    assert reply.status == 409 and reply.json["code"] == "insufficient_stock"
    assert reply.json["details"] == [{"sku": "A", "requested": 5, "available": 2}]
    assert stock("A") == 2
    assert api.call("GET", f"{PURCHASES}/{made['id']}", token=tokens["admin"]).status == 200
    assert_ledger("A")


def test_reversal_short_at_write_time_is_409(api, tokens, monkeypatch):
    from chalicelib.inventory import purchases
    from chalicelib.store.models import Product

    add_product(api, tokens["admin"], "A", stock=0)
    made = buy(api, tokens["staff"], quantity=5).json
    real_read = purchases.read_batch

    def read_then_someone_buys(*args, **kwargs):
        reads = real_read(*args, **kwargs)
        Product(sku="A").update([Product.stock.add(-1), Product.headroom.add(-1)])
        return reads

    monkeypatch.setattr(purchases, "read_batch", read_then_someone_buys)
    reply = api.call("DELETE", f"{PURCHASES}/{made['id']}", token=tokens["admin"])
    assert reply.status == 409 and reply.json["details"][0]["available"] == 4
    assert stock("A") == 4


def test_reversing_a_purchase_of_a_deleted_or_recreated_product_moves_nothing(api, tokens):
    admin = tokens["admin"]
    add_product(api, admin, "A", stock=0)
    made = buy(api, admin, quantity=5).json
    api.call("DELETE", "/products/A", token=admin)
    add_product(api, admin, "A", stock=2)
    assert api.call("DELETE", f"{PURCHASES}/{made['id']}", token=admin).status == 204
    assert stock("A") == 2 and [m.kind for m in movements("A")] == ["initial"]
    gone = buy(api, admin, quantity=5).json
    api.call("DELETE", "/products/A", token=admin)
    assert api.call("DELETE", f"{PURCHASES}/{gone['id']}", token=admin).status == 204
    assert api.call("GET", "/products/A", token=admin).status == 404


def test_idempotent_purchases(api, tokens):
    add_product(api, tokens["admin"], "A", stock=0)
    key = {"Idempotency-Key": "po-1"}
    first = buy(api, tokens["staff"], quantity=4, headers=key)
    replay = buy(api, tokens["staff"], quantity=4, headers=key)
    assert (first.status, replay.status) == (201, 200) and replay.json == first.json
    assert stock("A") == 4
    reused = buy(api, tokens["staff"], quantity=5, headers=key)
    assert reused.status == 409 and reused.json["code"] == "idempotency_key_reused"
    assert buy(api, tokens["admin"], quantity=4, headers=key).status == 201  # another caller
    assert stock("A") == 8
    assert buy(api, tokens["staff"], headers={"Idempotency-Key": "x" * 129}).status == 400
    assert_ledger("A")


def test_a_replay_of_a_reversed_purchase_restocks_nothing(api, tokens):
    """API.md: a replay whose earlier result has since been undone answers 404."""
    add_product(api, tokens["admin"], "A", stock=0)
    key = {"Idempotency-Key": "po-undone"}
    made = buy(api, tokens["staff"], quantity=4, headers=key).json
    assert api.call("DELETE", f"{PURCHASES}/{made['id']}", token=tokens["admin"]).status == 204
    replay = buy(api, tokens["staff"], quantity=4, headers=key)
    assert replay.status == 404 and replay.json["code"] == "not_found", replay.json
    assert stock("A") == 0
    assert_ledger("A")


def test_concurrent_duplicate_purchases_restock_once(api, tokens, atomic_moto):
    add_product(api, tokens["admin"], "A", stock=0)
    key = {"Idempotency-Key": "po-dup"}
    with ThreadPoolExecutor(10) as pool:
        replies = list(
            pool.map(lambda _: buy(api, tokens["staff"], quantity=3, headers=key), range(10))
        )
    assert sorted(r.status for r in replies) == [200] * 9 + [201]
    assert len({r.json["id"] for r in replies}) == 1 and stock("A") == 3
    assert_ledger("A")


def test_concurrent_purchases_and_sales_keep_the_ledger(api, tokens, atomic_moto):
    # The domain functions on threads: the test client swaps os.environ per request, which
    # threads would race on.
    from chalicelib.errors import AppError
    from chalicelib.inventory import idempotency, purchases, sales
    from chalicelib.schemas.orders import PurchaseIn, SalesOrderIn
    from chalicelib.vocabulary import Caller, Role

    add_product(api, tokens["admin"], "A", stock=5)
    staff = Caller(api.call("GET", "/auth/me", token=tokens["staff"]).json["id"], Role.STAFF)
    buyer = Caller(api.call("GET", "/auth/me", token=tokens["customer"]).json["id"], Role.CUSTOMER)
    restock = PurchaseIn.model_validate({"sku": "A", "quantity": 2, "supplier_name": "Acme"})
    three = SalesOrderIn.model_validate({"items": [{"sku": "A", "quantity": 3}]})

    def work(i: int) -> int:
        try:
            if i % 2:
                purchases.create_purchase(staff, restock, idempotency.NO_KEY)
            else:
                sales.create_order(buyer, three, idempotency.NO_KEY)
        except AppError as error:
            return error.status
        return 201

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(work, range(20)))
    bought = sum(2 for i, status in enumerate(statuses) if i % 2 and status == 201)
    sold = sum(3 for i, status in enumerate(statuses) if not i % 2 and status == 201)
    assert set(statuses) <= {201, 409}, statuses
    assert bought == 20 and stock("A") == 5 + bought - sold >= 0
    assert_ledger("A")


def test_a_purchase_ends_a_low_stock_episode_and_a_reversal_starts_one(api, tokens):
    add_product(api, tokens["admin"], "A", stock=2, threshold=5)  # low from the start
    first = AlertState.get("A").notification_id
    made = buy(api, tokens["staff"], quantity=3).json
    assert Notification.get(first).status == "resolved"
    assert list(AlertState.scan()) == []
    assert api.call("DELETE", f"{PURCHASES}/{made['id']}", token=tokens["admin"]).status == 204
    second = Notification.get(AlertState.get("A").notification_id)
    assert second.id != first and (second.status, second.stock) == ("open", 2)
    assert_ledger("A")
