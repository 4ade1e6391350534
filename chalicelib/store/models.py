"""PynamoDB models: the single source of every table, key and index (local stack and AWS).

Table names and endpoints are bound lazily by `chalicelib.store.db.bind()`.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
)
from pynamodb.models import Model

from chalicelib.store.attributes import MoneyAttribute


class _Base(Model):
    class Meta:
        abstract = True
        table_name = ""  # set by db.bind()
        billing_mode = "PAY_PER_REQUEST"

    # Short logical name; the deployed name is TABLE_PREFIX + this.
    logical_name: str = ""


def _index(
    name: str,
    hash_attr: str,
    range_attr: str,
    hash_type=UnicodeAttribute,
    range_type=UnicodeAttribute,
    projection=None,
) -> type[GlobalSecondaryIndex]:
    """A GSI, ALL projected unless told; newest-first lists use a ULID range key."""
    meta = type("Meta", (), {"index_name": name, "projection": projection or AllProjection()})
    attrs = {
        "Meta": meta,
        hash_attr: hash_type(hash_key=True),
        range_attr: range_type(range_key=True),
    }
    return type(f"{name}_index", (GlobalSecondaryIndex,), attrs)


# The catalog's one `listed` partition, and the base of the sharded "every order" and "every
# purchase" list keys (`store.shards`).
EVERY = "all"


class User(_Base):
    logical_name = "users"
    id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    name = UnicodeAttribute()
    role = UnicodeAttribute()
    active = BooleanAttribute(default=True)
    password_hash = UnicodeAttribute()
    created_at = UnicodeAttribute()
    # Login throttling: failures counted in a window that opens at the first failure.
    failed_logins = NumberAttribute(null=True)
    failures_since = NumberAttribute(null=True)
    # Raised by every password change or reset: refresh tokens of an older generation are void.
    token_generation = NumberAttribute(null=True)
    by_role = _index("by_role", "role", "id")()


class EmailClaim(_Base):
    """One item per lower-cased email: uniqueness and the login lookup (strongly consistent)."""

    logical_name = "user-emails"
    email = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()


class RefreshToken(_Base):
    logical_name = "refresh-tokens"
    token_hash = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    generation = NumberAttribute(null=True)  # the user's token_generation when issued
    expires_at = TTLAttribute()


class PasswordReset(_Base):
    """One per requested address (lower-cased as typed): its current code and its email count.

    Unknown addresses get the same item (user_id null), so a request costs the same whoever asks;
    TTL only cleans up, every expiry is checked explicitly."""

    logical_name = "password-resets"
    email = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(null=True)
    code_hash = UnicodeAttribute(null=True)  # removed when used
    code_expires = NumberAttribute(null=True)
    attempts = NumberAttribute(null=True)  # at the current code; counted before comparing
    emails_sent = NumberAttribute()  # in the hour that opened at window_since
    window_since = NumberAttribute()
    expires_at = TTLAttribute()


LOW_STOCK_FIELDS = ["name", "stock", "low_stock_threshold", "incarnation", "name_key"]


class Product(_Base):
    logical_name = "products"
    sku = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    price = MoneyAttribute()
    stock = NumberAttribute()
    # Units of holds not yet released (absent on products written before holds: 0).
    held = NumberAttribute(default=0)
    low_stock_threshold = NumberAttribute()
    # stock - held - low_stock_threshold (available - threshold), kept in the same update
    # expression as stock and held: the product is low when it is negative, so the low-stock
    # check is a key condition on this index.
    headroom = NumberAttribute()
    alert_shard = NumberAttribute()
    # A re-created sku starts a new ledger: movements live under f"{sku}#{incarnation}".
    incarnation = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # With stock_shards n > 1 (absent: 1) this item is part 0 of the stock, parts 1..n-1 are
    # `StockPart` items (`store.parts`): stock, held and headroom above are part 0's own, and
    # the product is not in `low_stock` (alert_shard removed: its headroom is not the total's).
    stock_shards = NumberAttribute(null=True)
    # How many ledgers the movements are spread over (the most parts it ever had; absent: 1).
    ledger_parts = NumberAttribute(null=True)
    # EVERY while stock_shards > 1: the sparse index that names the products in parts, for the
    # low-stock check and the ?stock= lists (written only when stock_shards changes).
    sharded = UnicodeAttribute(null=True)
    # The catalog's orders (`inventory.catalog`): EVERY, f"{name.lower()}\0{sku}" and
    # f"{sku.lower()}\0{sku}". None of them moves with stock, so no sale writes those indexes.
    listed = UnicodeAttribute(null=True)
    name_key = UnicodeAttribute(null=True)
    sku_key = UnicodeAttribute(null=True)
    by_sku = _index("by_sku", "listed", "sku", projection=KeysOnlyProjection())()
    by_name = _index("by_name", "listed", "name_key", projection=KeysOnlyProjection())()
    by_sku_key = _index(
        "by_sku_key", "listed", "sku_key", projection=IncludeProjection(["name_key"])
    )()
    by_sharding = _index("by_sharding", "sharded", "sku", projection=KeysOnlyProjection())()

    @property
    def available(self) -> int:
        """stock - held: what can still be sold or held. Read as headroom + threshold, the same
        sum (every write moves headroom with stock and held), and the one a `low_stock` entry
        carries too."""
        return int(self.headroom) + int(self.low_stock_threshold)

    # Every stock change writes this index: it carries what the low-stock check and the
    # ?stock= lists read, never the description (nor `held`: an entry's reads 0; its
    # `available` is right, from headroom and threshold).
    low_stock = _index(
        "low_stock",
        "alert_shard",
        "headroom",
        NumberAttribute,
        NumberAttribute,
        projection=IncludeProjection(LOW_STOCK_FIELDS),
    )()


class StockPart(_Base):
    """Part k (1 <= k < stock_shards) of a product's stock, in its own partition: one sku takes
    as many transactions a second as it has parts. Kept small: no name, no description."""

    logical_name = "stock-parts"
    part = UnicodeAttribute(hash_key=True)  # f"{sku}#{k}"
    sku = UnicodeAttribute()
    incarnation = UnicodeAttribute()  # the product's: a part of a deleted namesake is not read
    since = UnicodeAttribute()  # a new id each time the part is made: a hold knows its part
    stock = NumberAttribute()
    held = NumberAttribute()
    available = NumberAttribute()  # stock - held, moved in the same expression (conditions)


class Movement(_Base):
    logical_name = "movements"
    # f"{sku}#{incarnation}", and f"{sku}#{incarnation}#{k}" for the movements of part k > 0.
    ledger = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)  # ULID: newest first by key order
    at = UnicodeAttribute()
    kind = UnicodeAttribute()
    quantity_change = NumberAttribute()
    reference = UnicodeAttribute(null=True)
    # The audit fields (absent on movements written before they existed: null).
    actor = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    note = UnicodeAttribute(null=True)


class OrderLine(MapAttribute):
    sku = UnicodeAttribute()
    name = UnicodeAttribute()
    quantity = NumberAttribute()
    returned = NumberAttribute(null=True)  # units returned so far (null: none)
    unit_price = MoneyAttribute()
    line_total = MoneyAttribute()
    incarnation = UnicodeAttribute()


class CustomerRef(MapAttribute):
    id = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute()


class SalesOrder(_Base):
    logical_name = "sales-orders"
    id = UnicodeAttribute(hash_key=True)
    customer = CustomerRef()
    items = ListAttribute(of=OrderLine)
    total = MoneyAttribute()
    note = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    body_hash = UnicodeAttribute(null=True)
    cancelled_at = UnicodeAttribute(null=True)
    # Raised by every return: a cancellation or a return conditions on the one it read.
    revision = NumberAttribute(null=True)
    hold_id = UnicodeAttribute(null=True)  # the hold this order was made from
    # Index keys, removed when the order is cancelled so that lists leave it out. list_key is
    # one of `list_shards` (`store.shards.list_key`).
    list_key = UnicodeAttribute(null=True)
    customer_key = UnicodeAttribute(null=True)
    recorder_key = UnicodeAttribute(null=True)
    all_orders = _index("all_orders", "list_key", "id")()
    by_customer = _index("by_customer", "customer_key", "id")()
    by_recorder = _index("by_recorder", "recorder_key", "id")()


class Purchase(_Base):
    logical_name = "purchase-orders"
    id = UnicodeAttribute(hash_key=True)
    sku = UnicodeAttribute()
    product_name = UnicodeAttribute()
    quantity = NumberAttribute()
    supplier_name = UnicodeAttribute()
    purchase_date = UnicodeAttribute()
    unit_cost = MoneyAttribute(null=True)
    incarnation = UnicodeAttribute()
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    body_hash = UnicodeAttribute(null=True)
    reversed_at = UnicodeAttribute(null=True)
    list_key = UnicodeAttribute(null=True)  # removed when reversed
    all_purchases = _index("all_purchases", "list_key", "id")()


class HeldPart(MapAttribute):
    """Units a hold line keeps in one part of its product's stock."""

    index = NumberAttribute()
    since = UnicodeAttribute()  # the part's: if it was removed since, its held moved to part 0
    quantity = NumberAttribute()


class HoldLine(MapAttribute):
    sku = UnicodeAttribute()
    name = UnicodeAttribute()
    quantity = NumberAttribute()
    incarnation = UnicodeAttribute()  # of the product it holds units of
    parts = ListAttribute(of=HeldPart, null=True)  # absent: all of it in part 0


class Hold(_Base):
    """Units kept for a customer at checkout. `status` is stored as active, converted or
    released; an active hold past `expires_ms` reads as expired."""

    logical_name = "holds"
    id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    customer = CustomerRef()
    items = ListAttribute(of=HoldLine)
    expires_at = UnicodeAttribute()
    expires_ms = NumberAttribute()  # epoch milliseconds: the conditions and the expiry index
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    body_hash = UnicodeAttribute(null=True)
    order_id = UnicodeAttribute(null=True)
    released_at = UnicodeAttribute(null=True)
    # f"{status}#{shard}": the admin's lists by status, spread over `hold_shards` partitions so
    # that no one partition takes every hold of the shop (merged newest first at read time).
    status_key = UnicodeAttribute()
    customer_key = UnicodeAttribute()
    recorder_key = UnicodeAttribute()
    # Only while active: the sparse index the sweep reads (its cost grows with the expired
    # holds, not with all of them). Removed when the hold is converted or released.
    expiry_shard = NumberAttribute(null=True)
    by_status = _index("by_status", "status_key", "id")()
    by_customer = _index("by_customer", "customer_key", "id")()
    by_recorder = _index("by_recorder", "recorder_key", "id")()
    expiring = _index(
        "expiring",
        "expiry_shard",
        "expires_ms",
        NumberAttribute,
        NumberAttribute,
        projection=KeysOnlyProjection(),
    )()


class IdempotencyMarker(_Base):
    """f"{caller}#{resource}#{key}" -> the id it created; expires after 24 hours (TTL)."""

    logical_name = "idempotency"
    key = UnicodeAttribute(hash_key=True)
    resource_id = UnicodeAttribute()
    body_hash = UnicodeAttribute()
    expires_at = TTLAttribute()


class Notification(_Base):
    logical_name = "notifications"
    id = UnicodeAttribute(hash_key=True)
    sku = UnicodeAttribute()
    product_name = UnicodeAttribute()
    message = UnicodeAttribute()
    stock = NumberAttribute()
    threshold = NumberAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    resolved_at = UnicodeAttribute(null=True)
    emailed_at = UnicodeAttribute(null=True)
    handled_at = UnicodeAttribute(null=True)
    # Sparse index keys: visible_status is removed when handled (DELETE); email_pending is
    # removed once SES accepted the email.
    visible_status = UnicodeAttribute(null=True)
    email_pending = UnicodeAttribute(null=True)
    email_claimed_until = NumberAttribute(null=True)
    by_status = _index("by_status", "visible_status", "id")()
    unemailed = _index("unemailed", "email_pending", "id")()


class AlertState(_Base):
    """At most one per sku: the open episode. Its conditional put makes notifications unique."""

    logical_name = "alert-states"
    sku = UnicodeAttribute(hash_key=True)
    notification_id = UnicodeAttribute()


MODELS: tuple[type[_Base], ...] = (
    User,
    EmailClaim,
    RefreshToken,
    PasswordReset,
    Product,
    StockPart,
    Movement,
    SalesOrder,
    Purchase,
    Hold,
    IdempotencyMarker,
    Notification,
    AlertState,
)
