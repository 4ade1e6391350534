"""The capacity model: what each write path writes and reads, and the sustained ceilings that
DynamoDB's published per-partition limits put on it.

    .venv/bin/python -m benchmarks.capacity [--out FILE] [--json] [--lock-ms 10]

Each configuration is recorded in its own process (settings are read fresh from the
environment): "today" (LOW_STOCK_SHARDS=4, LIST_SHARDS=1, stock_shards 1) and "new" (the code's
defaults, and stock_shards 64 for a flash sale once the API takes it). A recording runs every
write path through the real API (chalice.test.Client, moto in process) and keeps, from a
botocore hook on the shared client, every item written (read back before and after the call) and
every read. The model then sizes items and index entries as DynamoDB does, classifies each
partition key by how traffic spreads over it, and divides the per-partition limits by the load.
Index definitions come from the PynamoDB models and shard counts from chalicelib.settings, so a
change to either moves the "new" column without editing this file.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from infra.dynamodb_limits import attribute_value_size, item_size, write_units
from infra.dynamodb_limits import read_units as limit_read_units

ROOT = Path(__file__).resolve().parent.parent

# ---- assumptions (DynamoDB's published limits, and what the model takes as given) -----------

PARTITION_WCU = 1000  # write units a second, per partition of a table or of an index
PARTITION_RCU = 3000  # read units a second, per partition
INDEX_ENTRY_OVERHEAD = 100  # bytes DynamoDB adds to each index entry
LOCK_MS = 10.0  # how long a transaction keeps each of its items (the main assumption)
LOCK_SENSITIVITY = (5.0, 10.0, 25.0, 50.0)
SKUS = 10_000  # the shop: traffic uniform over this many skus
CUSTOMERS = 10_000  # ... and over this many customers
FLASH_STOCK_SHARDS = 64  # the largest stock_shards the contract allows
DESCRIPTION_CHARS = 2000  # the longest description the contract allows: the worst case
# Main's configuration before issue 14 (hold shards were 4 then too).
TODAY = {"LOW_STOCK_SHARDS": "4", "LIST_SHARDS": "1", "HOLD_SHARDS": "4"}
SETTINGS_NAMES = tuple(TODAY)  # unset for "new": the code's defaults apply

# The index attributes whose values are one of N shards, and the setting that is N. A shard of
# a per-sku item (a product's alert_shard) is fixed for that sku; one of a record's (an order's
# list key, a hold's status key) is a hash of the record's id.
SHARD_RULES = {
    "alert_shard": "low_stock_shards",
    "expiry_shard": "hold_shards",
    "status_key": "hold_shards",
    "list_key": "list_shards",
}

# ---- sizes and units, as DynamoDB counts them ------------------------------------------------


# One sizing rule for the model and the limits proxy (infra/dynamodb_limits.py).
value_size = attribute_value_size


def read_units(size: int, consistent: bool, transactional: bool = False) -> float:
    """The proxy's read units, and 2 per 4 KB in a transaction (TransactGetItems)."""
    return 2 * limit_read_units(size, True) if transactional else limit_read_units(size, consistent)


# ---- index entries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexSpec:
    name: str
    hash: str
    range: str | None
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSpec:
    logical: str
    hash: str
    range: str | None
    indexes: tuple[IndexSpec, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.hash,) if self.range is None else (self.hash, self.range)


def entry(item: dict[str, Any] | None, table: TableSpec, index: IndexSpec) -> dict | None:
    """The index entry of `item` (its projected attributes), or None if the item is not in the
    index (a sparse index: an item without the index's key attributes has no entry)."""
    index_keys = (index.hash,) if index.range is None else (index.hash, index.range)
    if not item or any(name not in item for name in index_keys):
        return None
    if index.projection == "ALL":
        return dict(item)
    names = set(table.keys) | set(index_keys)
    if index.projection == "INCLUDE":
        names |= set(index.include)
    return {name: value for name, value in item.items() if name in names}


def entry_size(projected: dict[str, Any]) -> int:
    return item_size(projected) + INDEX_ENTRY_OVERHEAD


@dataclass(frozen=True)
class EntryWrite:
    """One write to an index partition: a put, a delete, or an entry rewritten in place."""

    action: str  # put, delete, rewrite
    key: Any  # the DynamoDB-JSON value of the index's partition key
    size: int
    units: int


def entry_writes(
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    table: TableSpec,
    index: IndexSpec,
) -> list[EntryWrite]:
    """What one item write costs an index (never doubled by a transaction): an entry that moves
    (its index key changed) is a delete and a put; one whose projected attributes changed is
    rewritten; one entering or leaving a sparse index is one put or one delete."""
    old, new = entry(before, table, index), entry(after, table, index)

    def one(action: str, projected: dict[str, Any], size: int | None = None) -> EntryWrite:
        size = entry_size(projected) if size is None else size
        return EntryWrite(action, projected[index.hash], size, write_units(size))

    if old is None and new is None:
        return []
    if old is None:
        return [one("put", new)]
    if new is None:
        return [one("delete", old)]
    index_keys = (index.hash,) if index.range is None else (index.hash, index.range)
    if any(old[name] != new[name] for name in index_keys):
        return [one("delete", old), one("put", new)]
    if old != new:
        return [one("rewrite", new, max(entry_size(old), entry_size(new)))]
    return []


# ---- how traffic spreads over a partition key ------------------------------------------------


@dataclass(frozen=True)
class KeyClass:
    """What a partition key's value is, for the traffic it takes.

    kind: sku (`sku`, over `parts` stock parts), user, unique (the record's own id: no other
    operation shares it), shards (one of `n`, setting `setting`; of the sku `sku` if it is an
    attribute of a per-sku item), constant (one partition for the whole shop)."""

    kind: str
    sku: str | None = None
    parts: int = 1
    user: str | None = None
    n: int = 1
    setting: str | None = None
    value: str | None = None
    hot: bool = True  # the sku (or its shard) that the one-sku scenario puts every operation on

    def describe(self) -> str:
        if self.kind == "sku":
            return "per sku" + (f" part ({self.parts} parts)" if self.parts > 1 else "")
        if self.kind == "shards":
            return f"one of {self.n} by {'sku' if self.sku else 'id'} ({self.setting})"
        if self.kind == "constant":
            return f"constant {self.value!r}"
        return {"user": "per customer", "unique": "unique"}[self.kind]


@dataclass(frozen=True)
class Context:
    """What an operation is about: its skus, its users (customer, caller), the ids of its own
    records, the shard settings, and the product's stock_shards."""

    skus: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()
    ids: frozenset[str] = frozenset()
    shards: dict[str, int] = field(default_factory=dict)
    stock_shards: int = 1
    hot_sku: str | None = None  # None: every sku of the operation is hot


def key_text(value: Any) -> str:
    """A DynamoDB-JSON key value ({"S": "x"}, {"N": "3"}) or a plain one, as text."""
    if isinstance(value, dict):
        (_, raw), *_ = value.items()
        return str(raw)
    return str(value)


def classify(attribute: str, value: Any, ctx: Context, owner: KeyClass | None = None) -> KeyClass:
    """How traffic spreads over the partition key `attribute` = `value` (rules in order):

    - the sku (f"{sku}#..." too): per sku; a last segment that is a number (f"{sku}#{k}",
      f"{sku}#{incarnation}#{k}") is a stock part, one of the product's stock_shards;
    - a shard attribute (SHARD_RULES): one of N, N the setting; fixed per sku when `owner`
      (the item the index entry belongs to) is per sku;
    - the id of one of the operation's own records (order, hold, purchase, marker): unique;
    - a user's id: per customer;
    - anything else: one constant partition, the whole shop's funnel."""
    text = key_text(value)
    for sku in sorted(ctx.skus):
        hot = ctx.hot_sku in (None, sku)
        if text == sku:
            return KeyClass("sku", sku=sku, hot=hot)
        if text.startswith(sku + "#"):
            part = text.rsplit("#", 1)[1].isdigit()
            return KeyClass("sku", sku=sku, parts=ctx.stock_shards if part else 1, hot=hot)
    setting = SHARD_RULES.get(attribute)
    if setting is not None:
        per_sku = owner is not None and owner.kind == "sku"
        return KeyClass(
            "shards",
            n=ctx.shards.get(setting, 1),
            setting=setting,
            sku=owner.sku if per_sku else None,
            hot=owner.hot if per_sku else True,
        )
    if text in ctx.ids:
        return KeyClass("unique")
    if text in ctx.users:
        return KeyClass("user", user=text)
    return KeyClass("constant", value=text)


# ---- a recorded path as partition loads ------------------------------------------------------


@dataclass(frozen=True)
class Touch:
    """Units one operation puts on one partition key (or, kind "lock", one item it locks)."""

    resource: str  # "products", "products/low_stock"
    kind: str  # write, read, lock
    key: KeyClass
    units: float
    what: str = ""  # for the per-path table: "Update", "index put", ...
    size: int = 0


def table_specs(raw: dict[str, Any]) -> dict[str, TableSpec]:
    return {
        name: TableSpec(
            spec["logical"],
            spec["hash"],
            spec["range"],
            tuple(
                IndexSpec(i["name"], i["hash"], i["range"], i["projection"], tuple(i["include"]))
                for i in spec["indexes"]
            ),
        )
        for name, spec in raw.items()
    }


def created_ids(writes: Iterable[dict[str, Any]], tables: dict[str, TableSpec]) -> set[str]:
    """The partition keys of the items an operation created, in tables keyed by them alone
    (an order, a hold, a marker; not a movement, whose partition is its sku's ledger)."""
    found = set()
    for write in writes:
        table = tables[write["table"]]
        if write["before"] is None and write["after"] is not None and table.range is None:
            found.add(key_text(write["after"][table.hash]))
    return found


def context_of(path: dict[str, Any], tables: dict[str, TableSpec], shards: dict) -> Context:
    about = path["about"]
    return Context(
        skus=frozenset(about["skus"]),
        users=frozenset(about["users"]),
        ids=frozenset(about["ids"]) | created_ids(path["writes"], tables),
        shards=dict(shards),
        stock_shards=int(about.get("stock_shards", 1)),
        hot_sku=about["skus"][0] if about["skus"] else None,
    )


def write_touches(write: dict[str, Any], table: TableSpec, ctx: Context) -> list[Touch]:
    """One item write: its table partition, its lock (in a transaction), its index entries."""
    before, after = write["before"], write["after"]
    item = after or before or write["key"]
    key = classify(table.hash, item[table.hash], ctx)
    size = max(item_size(before), item_size(after), item_size(write["key"]))
    transactional = write["transactional"]
    what = write["action"] + (" (tx)" if transactional else "")
    touches = [Touch(table.logical, "write", key, write_units(size, transactional), what, size)]
    if transactional:
        created = before is None and after is not None
        lock_key = KeyClass("unique") if created and table.range else key
        touches.append(Touch(table.logical, "lock", lock_key, 1, what))
    if write["action"] == "ConditionCheck":
        return touches  # nothing changes: no index entry moves
    for index in table.indexes:
        for change in entry_writes(before, after, table, index):
            index_key = classify(index.hash, change.key, ctx, owner=key)
            resource = f"{table.logical}/{index.name}"
            touches.append(
                Touch(
                    resource,
                    "write",
                    index_key,
                    change.units,
                    f"entry {change.action}",
                    change.size,
                )
            )
    return touches


def read_touches(read: dict[str, Any], tables: dict[str, TableSpec], ctx: Context) -> list[Touch]:
    """Items read by key cost per item; a Query or Scan per 4 KB of what it returned."""
    table = tables[read["table"]]
    resource = table.logical + (f"/{read['index']}" if read["index"] else "")
    consistent, transactional = read["consistent"], read.get("transactional", False)
    if read["op"] in ("Query", "Scan"):
        # A Scan reads the table's partitions in turn: counted as one partition (its tables
        # here hold only open episodes).
        key = (
            KeyClass("constant", value="(scan)")
            if read["op"] == "Scan"
            else classify(read["attribute"], read["value"], ctx)
        )
        size = sum(read["sizes"])
        return [Touch(resource, "read", key, read_units(size, consistent), read["op"], size)]
    values = read.get("values") or [read["value"]] * len(read["sizes"])
    return [
        Touch(
            resource,
            "read",
            classify(read["attribute"], value, ctx),
            read_units(size, consistent, transactional),
            read["op"],
            size,
        )
        for value, size in zip(values, read["sizes"], strict=True)
    ]


def touches_of(path: dict[str, Any], tables: dict[str, TableSpec], shards: dict) -> list[Touch]:
    ctx = context_of(path, tables, shards)
    touches = []
    for write in path["writes"]:
        touches += write_touches(write, tables[write["table"]], ctx)
    for read in path["reads"]:
        touches += read_touches(read, tables, ctx)
    return part_zero(touches, ctx.stock_shards)


def part_zero(touches: list[Touch], stock_shards: int) -> list[Touch]:
    """With stock in parts, the sku's own keys (the product item, its bare ledger) are part 0:
    an operation that touches them and no other part of that sku (in the same way: written,
    locked, read) took its units from part 0, one of `stock_shards`. Touched beside other parts
    (a read of every part, a line spanning parts), they are touched by every operation: one
    partition per sku."""
    if stock_shards <= 1:
        return touches
    parted = {(t.kind, t.key.sku) for t in touches if t.key.kind == "sku" and t.key.parts > 1}
    return [
        replace(t, key=replace(t.key, parts=stock_shards))
        if t.key.kind == "sku" and t.key.parts == 1 and (t.kind, t.key.sku) not in parted
        else t
        for t in touches
    ]


# ---- ceilings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    hot: str | None = None  # None: uniform; "sku": every operation on one sku; "customer"
    skus: int = SKUS
    customers: int = CUSTOMERS


SCENARIOS = (
    Scenario("shop (uniform over 10,000 skus)"),
    Scenario("one sku", hot="sku"),
    Scenario("one customer", hot="customer"),
)


def spread(key: KeyClass, scenario: Scenario) -> tuple[tuple, float] | None:
    """The partition family a key falls in under `scenario`, and over how many partitions
    that family's traffic spreads. None: a unique key, shared with no other operation."""
    if key.kind == "unique":
        return None
    if key.kind == "sku":
        if scenario.hot == "sku" and key.hot:
            return ("sku", key.sku, key.parts), key.parts
        return ("sku", key.parts), scenario.skus * key.parts
    if key.kind == "user":
        if scenario.hot == "customer":
            return ("user", key.user), 1
        return ("user",), scenario.customers
    if key.kind == "shards":
        if key.sku is not None and scenario.hot == "sku" and key.hot:
            return ("shards", key.setting, key.sku), 1  # one sku's shard is one partition
        return ("shards", key.setting), key.n
    return ("constant", key.value), 1


def capacity(
    kind: str, lock_ms: float, wcu: float = PARTITION_WCU, rcu: float = PARTITION_RCU
) -> float:
    """What one partition (or, for locks, one item) takes a second."""
    return {"write": wcu, "read": rcu, "lock": 1000.0 / lock_ms}[kind]


@dataclass
class Funnel:
    """One partition family of one resource: its load per operation and the rate it allows."""

    resource: str
    kind: str
    key: KeyClass
    units: float  # per operation, summed over the family's keys
    partitions: float
    ceiling: float

    @property
    def label(self) -> str:
        what = {"write": "writes", "read": "reads", "lock": "item lock"}[self.kind]
        return f"{self.resource} {what}, {self.key.describe()}"


def funnels(
    touches: Iterable[Touch],
    scenario: Scenario,
    lock_ms: float = LOCK_MS,
    wcu: float = PARTITION_WCU,
    rcu: float = PARTITION_RCU,
) -> list:
    """Every partition family's ceiling (operations a second), lowest first; `wcu` and `rcu`
    are the per-partition limits (DynamoDB's by default; a scaled-down world's, such as the
    limits proxy's per-key units, with `scaled_ceiling`)."""
    units: dict[tuple, float] = defaultdict(float)
    spreads: dict[tuple, tuple[float, KeyClass]] = {}
    for touch in touches:
        found = spread(touch.key, scenario)
        if found is None:
            continue
        family, partitions = found
        name = (touch.resource, touch.kind, family)
        units[name] += touch.units
        spreads[name] = (partitions, touch.key)
    result = []
    for name, load in units.items():
        partitions, key = spreads[name]
        ceiling = capacity(name[1], lock_ms, wcu, rcu) * partitions / load
        result.append(Funnel(name[0], name[1], key, load, partitions, ceiling))
    return sorted(result, key=lambda f: f.ceiling)


def ceiling(
    touches: Iterable[Touch], scenario: Scenario, lock_ms: float = LOCK_MS
) -> Funnel | None:
    """The binding funnel: the lowest ceiling of any partition family (None: nothing shared)."""
    found = funnels(touches, scenario, lock_ms)
    return found[0] if found else None


def scaled_ceiling(
    touches: Iterable[Touch],
    scenario: Scenario,
    write_units_per_key: float,
    read_units_per_key: float,
    lock_ms: float,
) -> Funnel | None:
    """The binding funnel in a scaled-down world: every partition key takes
    `write_units_per_key` and `read_units_per_key` a second and a transaction locks its items
    for `lock_ms` (what infra/dynamodb_limits.py enforces; benchmarks/flash_sale.py compares
    its measurements with this)."""
    found = funnels(touches, scenario, lock_ms, write_units_per_key, read_units_per_key)
    return found[0] if found else None


# ---- recording (in its own process, moto in process) -----------------------------------------

WRITE_OPS = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}


class Recorder:
    """botocore hooks on the shared client: each write with its item before and after (read
    back through a client of its own, which the hooks do not see), each read with what it
    returned. Only calls that succeeded count; failed attempts are counted apart."""

    def __init__(self, client: Any, peek: Any, tables: dict[str, TableSpec]) -> None:
        self.events = client.meta.events
        self.peek = peek
        self.tables = tables
        self.path: dict[str, Any] | None = None
        self._pending: list[dict[str, Any]] = []
        self._params: dict[str, Any] = {}

    def start(self, name: str, **about: Any) -> None:
        self.path = {"name": name, "about": about, "writes": [], "reads": [], "calls": []}
        self.path["failed_calls"] = 0

    def stop(self, **more: Any) -> dict[str, Any]:
        path, self.path = self.path, None
        assert path is not None
        for name, values in more.items():
            path["about"][name] = sorted(set(path["about"].get(name, [])) | set(values))
        return path

    def __enter__(self) -> Recorder:
        self.events.register("before-parameter-build.dynamodb", self.before, "capacity-before")
        self.events.register("after-call.dynamodb", self.after, "capacity-after")
        return self

    def __exit__(self, *exc: object) -> None:
        self.events.unregister("before-parameter-build.dynamodb", unique_id="capacity-before")
        self.events.unregister("after-call.dynamodb", unique_id="capacity-after")

    def _key(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self.tables[table].keys}

    def _get(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        return self.peek.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    def _write(self, action: str, body: dict[str, Any], transactional: bool) -> dict[str, Any]:
        table = body["TableName"]
        key = self._key(table, body["Item"]) if action == "Put" else body["Key"]
        return {
            "table": table,
            "action": action,
            "transactional": transactional,
            "key": key,
            "before": self._get(table, key),
        }

    def before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self.path is None:
            return
        self._params = copy.deepcopy(params)
        name, writes = model.name, []
        if name == "TransactWriteItems":
            for item in params["TransactItems"]:
                writes += [self._write(kind, body, True) for kind, body in item.items()]
        elif name in WRITE_OPS:
            writes = [self._write(WRITE_OPS[name], params, False)]
        elif name == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    put = request.get("PutRequest")
                    body = {"TableName": table, **(put or request["DeleteRequest"])}
                    writes.append(self._write("Put" if put else "Delete", body, False))
        self._pending = writes

    def after(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if self.path is None:
            return
        if http_response.status_code >= 300:
            self.path["failed_calls"] += 1
            return
        for write in self._pending:
            write["after"] = self._get(write["table"], write["key"])
        self.path["writes"] += self._pending
        self.path["reads"] += self._reads(model.name, self._params, parsed)
        self.path["calls"].append(model.name)
        self._pending = []

    def _reads(self, op: str, params: dict[str, Any], parsed: dict[str, Any]) -> list[dict]:
        if op == "GetItem":
            return [self._by_key(op, params["TableName"], params, [parsed.get("Item")])]
        if op == "BatchGetItem":
            found = parsed.get("Responses", {})
            return [
                self._by_key(op, table, request, found.get(table, []))
                for table, request in params["RequestItems"].items()
            ]
        if op == "TransactGetItems":
            out = []
            for got, item in zip(
                params["TransactItems"], parsed.get("Responses", []), strict=False
            ):
                read = self._by_key(op, got["Get"]["TableName"], got["Get"], [item.get("Item")])
                out.append({**read, "transactional": True})
            return out
        if op in ("Query", "Scan"):
            return [self._query(op, params, parsed)]
        return []

    def _by_key(self, op: str, table: str, request: dict, items: list) -> dict[str, Any]:
        """One read record per table: each key's item size (0: not found, still one unit)."""
        spec = self.tables[table]
        keys = request.get("Keys") or [request["Key"]]
        sized = {json.dumps(self._key(table, i), sort_keys=True): item_size(i) for i in items if i}
        reads = [sized.get(json.dumps(k, sort_keys=True), 0) for k in keys]
        return {
            "op": op,
            "table": table,
            "index": None,
            "attribute": spec.hash,
            "value": keys[0][spec.hash],
            "values": [k[spec.hash] for k in keys],
            "consistent": bool(request.get("ConsistentRead")),
            "sizes": reads,
        }

    def _query(self, op: str, params: dict[str, Any], parsed: dict[str, Any]) -> dict[str, Any]:
        spec = self.tables[params["TableName"]]
        index = params.get("IndexName")
        attribute = spec.hash
        if index:
            attribute = next(i.hash for i in spec.indexes if i.name == index)
        return {
            "op": op,
            "table": params["TableName"],
            "index": index,
            "attribute": attribute,
            "value": query_hash_value(params, attribute) if op == "Query" else None,
            "consistent": bool(params.get("ConsistentRead")),
            "sizes": [item_size(i) for i in parsed.get("Items", [])],
        }


def query_hash_value(params: dict[str, Any], attribute: str) -> Any:
    """The partition key value of a Query, from its key condition (`#n = :v` or `name = :v`)."""
    import re

    names = {v: k for k, v in params.get("ExpressionAttributeNames", {}).items()}
    wanted = {attribute, names.get(attribute, attribute)}
    condition = params["KeyConditionExpression"]
    for name, placeholder in re.findall(r"([#\w]+)\s*=\s*(:\w+)", condition):
        if name in wanted:
            return params["ExpressionAttributeValues"][placeholder]
    raise ValueError(f"no equality on {attribute} in {condition}")


def model_specs() -> dict[str, dict[str, Any]]:
    """Every table's keys and indexes, from the PynamoDB models (bound: real table names)."""
    from chalicelib.store.models import MODELS

    specs = {}
    for model in MODELS:
        indexes = []
        for index in model._indexes.values():
            attributes = list(index.Meta.attributes.values())
            projection = index.Meta.projection
            indexes.append(
                {
                    "name": index.Meta.index_name,
                    "hash": next(a.attr_name for a in attributes if a.is_hash_key),
                    "range": next((a.attr_name for a in attributes if a.is_range_key), None),
                    "projection": projection.projection_type,
                    "include": list(getattr(projection, "non_key_attributes", None) or []),
                }
            )
        specs[model.Meta.table_name] = {
            "logical": model.logical_name,
            "hash": model._hash_keyname,
            "range": model._range_keyname,
            "indexes": indexes,
        }
    return specs


def description(sku: str) -> str:
    """A realistic description of the contract's longest length (every product item's bulk)."""
    text = (
        f"{sku}: cordless drill-driver, 18 V brushless motor, two 4 Ah batteries, fast "
        "charger, 13 mm metal chuck, 21 torque settings, LED work light, belt clip, carry "
        "case. Two-year warranty; spare parts stocked for ten years. "
    )
    return (text * (DESCRIPTION_CHARS // len(text) + 1))[:DESCRIPTION_CHARS]


class Shop:
    """The app through chalice.test.Client, as an admin and as one customer."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.keys = iter(range(1_000_000))

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        key: bool = False,
        ok: bool = True,
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key:
            headers["Idempotency-Key"] = f"capacity-{next(self.keys)}"
        reply = getattr(self.client.http, method.lower())(
            path, headers=headers, body=json.dumps(body) if body is not None else None
        )
        if ok:
            assert reply.status_code < 300, (method, path, reply.status_code, reply.body)
        return reply.status_code, json.loads(reply.body) if reply.body else None

    def login(self, email: str) -> str:
        body = {"email": email, "password": "password123"}
        return self.call("POST", "/auth/login", body)[1]["access_token"]


def make_products(
    shop: Shop, admin: str, skus: Iterable[str], stock: int, threshold: int, stock_shards: int
) -> bool:
    """Create the products; True if each took `stock_shards` (the API may not accept it yet)."""
    accepted = True
    for sku in skus:
        body = {
            "sku": sku,
            "name": f"Brushless drill-driver 18 V, kit {sku}",
            "description": description(sku),
            "price": "129.90",
            "stock": stock,
            "low_stock_threshold": threshold,
        }
        shop.call("POST", "/products", body, admin)
        if stock_shards > 1:
            status, product = shop.call(
                "PATCH", f"/products/{sku}", {"stock_shards": stock_shards}, admin, ok=False
            )
            accepted &= status == 200 and product.get("stock_shards") == stock_shards
    return accepted


HOT_SKUS = 7  # the paths below take their first sku from skus[0..6]


def record_family(
    shop: Shop,
    recorder: Recorder,
    prefix: str,
    stock_shards: int,
    admin: str,
    admin_id: str,
    customer: str,
    customer_id: str,
    with_check: bool,
) -> list[dict[str, Any]]:
    """Every write path on products of their own (`prefix`), each path recorded alone."""
    skus = [f"{prefix}-{i:03d}" for i in range(25)]
    # Each path's first sku is its hot one; in a flash sale only those are in parts.
    make_products(shop, admin, skus[:HOT_SKUS], 100 * 1000, 5, stock_shards)
    make_products(shop, admin, skus[HOT_SKUS:], 100 * 1000, 5, 1)
    users = [customer_id, admin_id]
    paths: list[dict[str, Any]] = []

    def run(
        name: str,
        path_skus: list[str],
        method: str,
        url: str,
        body: Any,
        token: str,
        key: bool = False,
        ids: Iterable[str] = (),
    ) -> Any:
        recorder.start(name, skus=path_skus, users=users, ids=list(ids), stock_shards=stock_shards)
        _, answer = shop.call(method, url, body, token, key)
        own = [answer["id"]] if isinstance(answer, dict) and "id" in answer else []
        paths.append(recorder.stop(ids=own))
        return answer

    def lines(chosen: list[str], quantity: int = 1) -> dict[str, Any]:
        return {"items": [{"sku": sku, "quantity": quantity} for sku in chosen]}

    orders = "/sales-orders"
    run("sale, 1 line", skus[:1], "POST", orders, lines(skus[:1]), customer, True)
    run("sale, 25 lines", skus[:25], "POST", orders, lines(skus[:25]), customer, True)
    order = shop.call("POST", orders, lines(skus[1:2]), customer)[1]
    run(
        "cancellation",
        skus[1:2],
        "DELETE",
        f"{orders}/{order['id']}",
        None,
        admin,
        ids=[order["id"]],
    )
    purchase_body = {
        "sku": skus[2],
        "quantity": 10,
        "supplier_name": "Northwind Tools Ltd",
        "unit_cost": "81.20",
    }
    purchase = run("purchase", skus[2:3], "POST", "/purchase-orders", purchase_body, admin, True)
    run(
        "reversal",
        skus[2:3],
        "DELETE",
        f"/purchase-orders/{purchase['id']}",
        None,
        admin,
        ids=[purchase["id"]],
    )
    adjustment = {"change": -1, "reason": "damaged", "note": "Dropped from the top shelf"}
    run(
        "adjustment", skus[3:4], "POST", f"/products/{skus[3]}/adjustments", adjustment, admin, True
    )
    order = shop.call("POST", orders, lines(skus[4:5], 2), customer)[1]
    returned = {"items": [{"sku": skus[4], "quantity": 1, "restock": True}]}
    run(
        "return",
        skus[4:5],
        "POST",
        f"{orders}/{order['id']}/returns",
        returned,
        admin,
        True,
        ids=[order["id"]],
    )
    hold_body = {**lines(skus[5:6]), "ttl_seconds": 600}
    hold = run("hold", skus[5:6], "POST", "/holds", hold_body, customer, True)
    run(
        "conversion",
        skus[5:6],
        "POST",
        orders,
        {"hold_id": hold["id"]},
        customer,
        True,
        ids=[hold["id"]],
    )
    hold = shop.call("POST", "/holds", {**lines(skus[6:7]), "ttl_seconds": 600}, customer)[1]
    run("release", skus[6:7], "DELETE", f"/holds/{hold['id']}", None, customer, ids=[hold["id"]])
    if with_check:
        low = [f"{prefix}L-{i:03d}" for i in range(5)]
        make_products(shop, admin, low, 2, 5, 1)  # created low: their writes open the episodes
        run("low-stock check (5 low)", low, "POST", "/notifications/check", None, admin)
    return paths


@dataclass
class Session:
    """The app in process on moto with an admin and a customer signed in, and what a Recorder
    of its requests needs (shared by this model and benchmarks/flash_sale.py)."""

    shop: Shop
    admin: str  # tokens
    customer: str
    admin_id: str
    customer_id: str
    specs: dict[str, Any]  # the tables and indexes, from the models
    shards: dict[str, int]  # the settings' *_shards
    peek: Any  # a DynamoDB client the recorder does not see: items before and after

    def recorder(self) -> Recorder:
        from chalicelib.store import db

        return Recorder(db.client(), self.peek, table_specs(self.specs))


@contextmanager
def in_process(prefix: str, signing_key: str) -> Iterator[Session]:
    import logging

    from benchmarks.in_process import use_moto

    use_moto(
        prefix,
        JWT_KEYS=signing_key,
        ARGON2_MEMORY_KIB="256",
        ARGON2_TIME_COST="1",
        ALERT_RECIPIENTS="ops@example.com",
    )
    logging.disable(logging.WARNING)
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib.auth import users
    from chalicelib.settings import get_settings
    from chalicelib.store import db
    from infra import gateway_shim

    gateway_shim.install()
    with mock_aws():
        db.create_tables()
        boto3.client("ses", region_name="us-east-1").verify_email_identity(
            EmailAddress=os.environ["ALERT_SENDER"]
        )
        admin_user = users.create_user(
            "ops.lead@automart.example", "password123", "Grace Hopper", "admin"
        )
        customer_user = users.create_user(
            "margaret.hamilton@example.com", "password123", "Margaret Hamilton", "customer"
        )
        import app as application

        settings = get_settings()
        shards = {
            name: value for name, value in asdict(settings).items() if name.endswith("_shards")
        }
        with Client(application.app, stage_name="local") as client:
            shop = Shop(client)
            shop.call("GET", "/health")
            yield Session(
                shop,
                shop.login(admin_user.email),
                shop.login(customer_user.email),
                admin_user.id,
                customer_user.id,
                model_specs(),
                shards,
                boto3.client("dynamodb", region_name=settings.region),
            )


def record(out: str) -> None:
    """Record every path under this process's environment; write the JSON to `out`."""
    with in_process("bench-capacity-", "capacity-benchmark-signing-key-32-bytes-long") as run:
        shop, admin = run.shop, run.admin
        specs, shards = run.specs, run.shards
        accounts = (admin, run.admin_id, run.customer, run.customer_id)
        with run.recorder() as recorder:
            families = {"default": record_family(shop, recorder, "P", 1, *accounts, True)}
            flash = make_products(shop, admin, ["PROBE"], 10, 1, FLASH_STOCK_SHARDS)
            if flash and os.environ.get("CAPACITY_FLASH", "1") == "1":
                families["flash"] = record_family(
                    shop, recorder, "F", FLASH_STOCK_SHARDS, *accounts, False
                )
    Path(out).write_text(
        json.dumps(
            {
                "tables": specs,
                "shards": shards,
                "stock_shards_accepted": flash,
                "families": families,
            },
            default=str,
        )
    )


def recorded(config: str, flash: bool = True) -> dict[str, Any]:
    """Record one configuration ("today" or "new") in a fresh process; its JSON."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_NAMES}
    if config == "today":
        env.update(TODAY)
    env["CAPACITY_FLASH"] = "1" if flash and config == "new" else "0"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "recording.json"
        command = [sys.executable, "-m", "benchmarks.capacity", "--record", str(out)]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"recording {config} failed:\n{done.stderr[-4000:]}")
        return json.loads(out.read_text())


# ---- the model over the recordings, and its tables --------------------------------------------


def path_touches(recording: dict[str, Any], family: str) -> dict[str, list[Touch]]:
    tables = table_specs(recording["tables"])
    return {
        path["name"]: touches_of(path, tables, recording["shards"])
        for path in recording["families"].get(family, [])
    }


@dataclass
class Column:
    """One column of the ceilings table: a configuration and the products it sells."""

    title: str
    touches: dict[str, list[Touch]] | None  # None: not possible yet


def columns(today: dict[str, Any], new: dict[str, Any]) -> list[Column]:
    flash = path_touches(new, "flash") if "flash" in new["families"] else None
    return [
        Column("today", path_touches(today, "default")),
        Column("new", path_touches(new, "default")),
        Column(f"new, stock_shards {FLASH_STOCK_SHARDS}", flash),
    ]


def fmt(rate: float | None) -> str:
    if rate is None:
        return "no shared partition"
    if rate >= 100_000:
        return f"{rate:,.0f}"
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:,.1f}"


def cell(touches: list[Touch] | None, scenario: Scenario, lock_ms: float = LOCK_MS) -> str:
    if touches is None:
        return "not yet"
    found = ceiling(touches, scenario, lock_ms)
    return "unbounded" if found is None else f"**{fmt(found.ceiling)}**/s ({found.label})"


def ceilings_table(cols: list[Column], lock_ms: float) -> list[str]:
    """Every path under every scenario, today beside new; stock_shards 64 for one sku only."""
    lines = [
        "| path | scenario | " + " | ".join(c.title for c in cols) + " |",
        "|---|---|" + "---|" * len(cols),
    ]
    for name in cols[0].touches or {}:
        for scenario in SCENARIOS:
            cells = []
            for col in cols:
                if col is cols[-1] and scenario.hot != "sku":
                    cells.append("")
                    continue
                if col.touches is not None and name not in col.touches:
                    cells.append("not recorded")
                    continue
                touches = None if col.touches is None else col.touches[name]
                cells.append(cell(touches, scenario, lock_ms))
            lines.append(f"| {name} | {scenario.name} | " + " | ".join(cells) + " |")
    return lines


def funnel_row(found: Funnel) -> tuple[str, str, str, bool]:
    """The row a funnel belongs to across columns: its resource, kind and class (not its
    shard count, which is what changes between columns)."""
    return found.resource, found.kind, found.key.kind, found.key.parts > 1


def funnel_table(
    cols: list[Column], path: str, scenario: Scenario, lock_ms: float, limit: float = 200_000
) -> list[str]:
    """Each partition family of one path under one scenario, today beside new: what binds,
    and what would bind next (the lowest of a row's families in each column)."""
    rates: dict[tuple, dict[str, Funnel]] = defaultdict(dict)
    shown = []
    for col in cols:
        if col.touches is None or path not in col.touches:
            continue
        if col is cols[-1] and scenario.hot != "sku":
            continue
        shown.append(col)
        for found in funnels(col.touches[path], scenario, lock_ms):
            row = rates[funnel_row(found)]
            if col.title not in row or found.ceiling < row[col.title].ceiling:
                row[col.title] = found
    lowest = {name: min(f.ceiling for f in row.values()) for name, row in rates.items()}
    lines = [
        "| funnel | " + " | ".join(f"{c.title}: units / partitions: ceiling" for c in shown) + " |",
        "|---|" + "---|" * len(shown),
    ]
    for name in sorted(rates, key=lowest.__getitem__):
        if lowest[name] >= limit:
            continue
        what = {"write": "writes", "read": "reads", "lock": "item lock"}[name[1]]
        cells = []
        for col in shown:
            f = rates[name].get(col.title)
            cells.append(
                "-"
                if f is None
                else f"{f.units:g} / {f.partitions:,.0f} ({f.key.describe()}): {fmt(f.ceiling)}/s"
            )
        lines.append(f"| {name[0]} {what} | " + " | ".join(cells) + " |")
    return lines


def sensitivity_table(cols: list[Column], paths: Iterable[str]) -> list[str]:
    lines = [
        "| path | scenario | column | "
        + " | ".join(f"L = {ms:g} ms" for ms in LOCK_SENSITIVITY)
        + " |",
        "|---|---|---|" + "---|" * len(LOCK_SENSITIVITY),
    ]
    for name in paths:
        for scenario in SCENARIOS:
            for col in cols:
                if col.touches is None or (col is cols[-1] and scenario.hot != "sku"):
                    continue
                touches = col.touches.get(name, [])
                rates = [ceiling(touches, scenario, ms) for ms in LOCK_SENSITIVITY]
                cells = [fmt(r.ceiling if r else None) for r in rates]
                lines.append(
                    f"| {name} | {scenario.name} | {col.title} | " + " | ".join(cells) + " |"
                )
    return lines


def detail_rows(touches: list[Touch]) -> list[tuple]:
    """The per-path table's rows: identical writes grouped, with their count."""
    groups: dict[tuple, int] = defaultdict(int)
    for t in touches:
        if t.kind == "lock":
            continue
        groups[(t.kind, t.resource, t.what, t.size, t.units, t.key.describe())] += 1
    return sorted((k + (n,) for k, n in groups.items()), key=lambda r: (r[0] != "write", r[1]))


def detail_table(recording: dict[str, Any], family: str, same_as: dict | None = None) -> list:
    """Per path: every item and index entry written and read, its size, units and key class.
    Paths whose rows are those of `same_as` are named, not repeated."""
    lines = [
        "| path | kind | table or index | operation | bytes | units each | partition key | count |",
        "|---|---|---|---|---:|---:|---|---:|",
    ]
    same = []
    for name, touches in path_touches(recording, family).items():
        rows = detail_rows(touches)
        if same_as is not None and same_as.get(name) == rows:
            same.append(name)
            continue
        for kind, resource, what, size, units, key, count in rows:
            lines.append(
                f"| {name} | {kind} | {resource} | {what} | {size:,} | {units:g} | "
                f"{key} | {count} |"
            )
    if same:
        lines += ["", "As today: " + ", ".join(same) + "."]
    return lines


def totals_table(recordings: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| path | column | requests | items written (in transactions) | table WCU | index "
        "entries written | index WCU | RCU |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for title, (recording, family) in recordings.items():
        for path in recording["families"].get(family, []):
            touches = touches_of(path, table_specs(recording["tables"]), recording["shards"])
            writes = [t for t in touches if t.kind == "write"]
            table_w = [t for t in writes if "/" not in t.resource]
            index_w = [t for t in writes if "/" in t.resource]
            locked = sum(1 for t in touches if t.kind == "lock")
            rcu = sum(t.units for t in touches if t.kind == "read")
            lines.append(
                f"| {path['name']} | {title} | {len(path['calls'])} | {len(table_w)} ({locked}) "
                f"| {sum(t.units for t in table_w):g} | {len(index_w)} | "
                f"{sum(t.units for t in index_w):g} | {rcu:g} |"
            )
    return lines


def assumptions(today: dict[str, Any], new: dict[str, Any], lock_ms: float) -> list[str]:
    accepted = new["stock_shards_accepted"]
    return [
        f"- A partition of a table or an index takes {PARTITION_WCU:,} write units and "
        f"{PARTITION_RCU:,} read units a second (DynamoDB's published limit; adaptive capacity "
        "and splitting a hot partition do not lift it for one key).",
        "- Sizes as DynamoDB counts them: attribute names' UTF-8 bytes plus values (strings: "
        "UTF-8 bytes; numbers: 1 byte per 2 significant digits + 1; booleans and null: 1; lists "
        "and maps: 3 + 1 per element + the elements). A write costs 1 unit per KB of the larger "
        "of the item before and after (rounded up, at least 1), 2 per KB in a transaction; a "
        "ConditionCheck is counted as a transactional write of the item (an upper bound).",
        f"- An index entry is its projected attributes (ALL, KEYS_ONLY: the table's and the "
        f"index's keys, INCLUDE: those and the listed ones) + {INDEX_ENTRY_OVERHEAD} bytes, 1 "
        "unit per KB, never doubled by a transaction. An entry whose index key changes is a "
        "delete and a put (2 writes, e.g. `low_stock` on every stock change: `headroom` is its "
        "sort key); one whose projected attributes change is rewritten (1); entering or leaving "
        "a sparse index, 1; no change to what it projects, 0. Definitions come from the PynamoDB "
        "models (chalicelib/store/models.py).",
        "- Reads: 1 unit per 4 KB per item read by key (0.5 eventually consistent, an item not "
        "found still 1); a Query or Scan per 4 KB of all it returned, at least 1.",
        f"- The lock: an item written in a transaction is locked for **L = {lock_ms:g} ms** "
        f"(default; no figure is published), so it takes at most 1000/L = {1000 / lock_ms:,.0f} "
        "transactions a second, whatever the partition's units allow; a second transaction on "
        "it meanwhile fails with TransactionConflict (retried: the bound is the best case, "
        "perfectly serialized). The sensitivity table shows L = "
        + ", ".join(f"{ms:g}" for ms in LOCK_SENSITIVITY)
        + " ms.",
        "- Partition keys are classified from their values against the operation "
        "(`classify`): the sku (per sku; a key `sku#k` or `sku#incarnation#k` is one of "
        "stock_shards parts), a shard attribute ("
        + ", ".join(f"`{a}` over `{s}`" for a, s in SHARD_RULES.items())
        + "), the record's own id "
        "(unique: shared with no other operation), the customer's or caller's id (per "
        "customer), anything else a constant (one partition for the whole shop). A shard "
        "attribute of a per-sku item (a product's `alert_shard`) is fixed per sku: all of one "
        "sku's traffic goes to its one shard. With stock in parts, the sku's own keys (the "
        "product item, its bare ledger) are part 0 when an operation touches no other part of "
        "the sku, and one partition per sku when it touches them beside other parts (a read of "
        "every part). The parts an operation took from are taken as spread evenly: the "
        "recording shows one operation, not the choice of part over many.",
        f"- Scenarios: the shop, each path's traffic uniform over {SKUS:,} skus and "
        f"{CUSTOMERS:,} customers; one sku, every operation on the same sku (a flash sale); one "
        "customer, every operation by the same customer over many skus. A ceiling is the "
        "lowest over every partition family of (its partitions x the partition limit) / (the "
        "units one operation puts on the family); each path is taken alone.",
        f"- Products: a {DESCRIPTION_CHARS:,}-character description (the contract's maximum) "
        "and a 40-character name; orders and holds by one customer with an Idempotency-Key "
        "(a marker is written), admin paths by an admin.",
        f"- Configurations, each recorded in its own process: today = {TODAY} (main's values), "
        "stock_shards 1; new = the code's defaults "
        f"({', '.join(f'{k} {v}' for k, v in new['shards'].items())}), and stock_shards "
        f"{FLASH_STOCK_SHARDS} for a flash sale: "
        + (
            "the API accepts it."
            if accepted
            else "**not yet**: `PATCH /products/{sku}` does not accept `stock_shards`."
        )
        + f" Today's recording read {', '.join(f'{k} {v}' for k, v in today['shards'].items())}.",
        "- Not modelled: Lambda and API Gateway limits, the authorizer, retries' extra load, "
        "account and table limits (40,000 WCU per table by default in on-demand mode is a "
        "quota to raise, not a partition limit), DynamoDB Streams.",
    ]


HEADLINE = ("sale, 1 line", "sale, 25 lines", "hold", "conversion")


def render(today: dict[str, Any], new: dict[str, Any], lock_ms: float, seconds: float) -> str:
    cols = columns(today, new)
    default_today = {n: detail_rows(t) for n, t in path_touches(today, "default").items()}
    lines = [
        "### Assumptions",
        "",
        *assumptions(today, new, lock_ms),
        "",
        f"### Ceilings (operations a second, L = {lock_ms:g} ms), with the binding funnel",
        "",
        *ceilings_table(cols, lock_ms),
        "",
        "### Funnels per path and scenario, today beside new",
        "",
        "Every partition family whose ceiling is below 200,000/s: the units one operation "
        "puts on it (for a lock, the items it locks) / the partitions (items) they spread "
        "over (the key's class): the rate that allows.",
        "",
    ]
    for name in HEADLINE:
        for scenario in SCENARIOS:
            lines += [
                f"**{name}, {scenario.name}**",
                "",
                *funnel_table(cols, name, scenario, lock_ms),
                "",
            ]
    lines += [
        "### Lock-time sensitivity (operations a second)",
        "",
        *sensitivity_table(cols, HEADLINE),
        "",
        "### Per path: requests, items and units",
        "",
        *totals_table(
            {
                "today": (today, "default"),
                "new": (new, "default"),
                f"new, stock_shards {FLASH_STOCK_SHARDS}": (new, "flash"),
            }
        ),
        "",
        "### Per path: what is written and read (today)",
        "",
        *detail_table(today, "default"),
        "",
        "### Per path: what is written and read (new, where it differs)",
        "",
        *detail_table(new, "default", default_today),
        "",
    ]
    if "flash" in new["families"]:
        lines += [
            f"### Per path on a product of stock_shards {FLASH_STOCK_SHARDS} (new)",
            "",
            *detail_table(new, "flash"),
            "",
        ]
    lines.append(f"Recorded and computed in {seconds:.0f} s.")
    return "\n".join(lines)


def as_json(today: dict[str, Any], new: dict[str, Any], lock_ms: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "lock_ms": lock_ms,
        "shards": {"today": today["shards"], "new": new["shards"]},
        "stock_shards_accepted": new["stock_shards_accepted"],
        "ceilings": [],
    }
    for col in columns(today, new):
        for name, touches in (col.touches or {}).items():
            for scenario in SCENARIOS:
                for ms in LOCK_SENSITIVITY if lock_ms in LOCK_SENSITIVITY else (lock_ms,):
                    found = ceiling(touches, scenario, ms)
                    out["ceilings"].append(
                        {
                            "column": col.title,
                            "path": name,
                            "scenario": scenario.name,
                            "lock_ms": ms,
                            "ceiling": found.ceiling if found else None,
                            "funnel": found.label if found else None,
                        }
                    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="also write the markdown to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument("--lock-ms", type=float, default=LOCK_MS)
    parser.add_argument("--record", metavar="FILE", help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.record:
        record(args.record)
        return
    started = time.monotonic()
    today, new = recorded("today"), recorded("new")
    markdown = render(today, new, args.lock_ms, time.monotonic() - started)
    print(json.dumps(as_json(today, new, args.lock_ms), indent=1) if args.json else markdown)
    if args.out:
        Path(args.out).write_text(markdown + "\n")


if __name__ == "__main__":
    main()
