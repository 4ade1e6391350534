"""A DynamoDB endpoint that refuses like the real service under load: a proxy in front of
DynamoDB Local (tests and benchmarks only; infra/ is not in the Lambda package).

DynamoDB Local never throttles and never reports a transaction conflict, so a flash-sale
benchmark against it says nothing about hot keys. This proxy forwards every request unchanged
and refuses, exactly as DynamoDB does, what DynamoDB would refuse at a scaled-down rate:

* writes over `write_units_per_key` per second on one partition key value of a table or of a
  global secondary index, reads over `read_units_per_key` (token buckets, one second of burst;
  decided before forwarding, charged exactly after, so a bucket may go into debt as DynamoDB
  lets bursts through);
* a TransactWriteItems touching an item of another one still in flight (or answered less than
  `lock_ms` ago), and a single PutItem/UpdateItem/DeleteItem on such an item.

How sizes and index keys are learned (exact and cheap): DescribeTable once per table (key
schemas, GSI projections, billing mode). A shadow holds, per item written through the proxy,
its size and its index entries (partition, key, size, hash of the projected entry), so the old
image of a write costs no extra round trip. PutItem/DeleteItem get ReturnValues=ALL_OLD injected
(the old image, exact) and UpdateItem ReturnValues=ALL_NEW (the new image); the proxy strips
what it added and recomputes x-amz-crc32. An item the shadow does not know is read once
(consistent GetItem/BatchGetItem) before its first write; the items a transaction updated are
read back (BatchGetItem) after its commit, while its locks still hold them.

Run: python -m infra.dynamodb_limits --upstream http://127.0.0.1:8001 --port 8002
GET /limits: the refusal counts; POST /limits/reset: zero them and refill the buckets.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import math
import queue
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# ---- DynamoDB's answers (botocore's service model, dynamodb 2012-08-10, and the messages
# DynamoDB returns as quoted in its API reference for CancellationReason) --------------------
PREFIX = "com.amazonaws.dynamodb.v20120810#"
THROUGHPUT_EXCEEDED = "ProvisionedThroughputExceededException"
TRANSACTION_CANCELED = "TransactionCanceledException"
TRANSACTION_CONFLICT = "TransactionConflictException"
CONFLICT_MESSAGE = "Transaction is ongoing for the item"
# Provisioned tables.
PROVISIONED_TABLE_MESSAGE = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)
PROVISIONED_INDEX_MESSAGE = (
    "The level of configured provisioned throughput for one or more global secondary indexes "
    "of the table was exceeded. Consider increasing your provisioning level for the "
    "under-provisioned global secondary indexes with the UpdateTable API."
)
# On-demand (PAY_PER_REQUEST) tables, as AutoMart's are.
ON_DEMAND_TABLE_MESSAGE = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically "
    "scaling your table or index so please try again shortly. If exceptions persist, check if "
    "you have a hot key: "
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
)
ON_DEMAND_INDEX_MESSAGE = (
    "Throughput exceeds the current capacity for one or more global secondary indexes. "
    "DynamoDB is automatically scaling your index so please try again shortly."
)
CANCELLED_MESSAGE = (
    "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]"
)

KINDS = ("transaction_conflict", "throttled_write", "throttled_read")
TARGET_PREFIX = "DynamoDB_20120810."
# Hop-by-hop headers (RFC 9110 7.6.1): one connection's business, never forwarded.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}


# ---- sizes and units (pure: a capacity model may reuse them) ----------------------------------
def number_size(text: str) -> int:
    """1 byte per two significant digits, plus 1 (DynamoDB's documented approximation: leading
    and trailing zeros do not count)."""
    try:
        digits = Decimal(text).as_tuple().digits
    except InvalidOperation:
        return len(text.encode())
    significant = "".join(map(str, digits)).strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def _binary_size(content: bytes | str) -> int:
    """Bytes as botocore is given them, or base64 as they travel in DynamoDB's JSON."""
    return len(content) if isinstance(content, bytes) else len(base64.b64decode(content))


def attribute_value_size(value: dict[str, Any]) -> int:
    """The size of one AttributeValue in DynamoDB's JSON form ({"S": ...}, {"M": ...})."""
    (kind, content), *_ = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return number_size(content)
    if kind == "B":
        return _binary_size(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in content)
    if kind == "NS":
        return sum(number_size(n) for n in content)
    if kind == "BS":
        return sum(_binary_size(b) for b in content)
    if kind == "L":
        return 3 + sum(1 + attribute_value_size(v) for v in content)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_value_size(v) for k, v in content.items())
    raise ValueError(f"unknown AttributeValue type {kind!r}")


def item_size(item: dict[str, dict[str, Any]] | None) -> int:
    """An item's size as DynamoDB counts it for capacity: per attribute, the UTF-8 bytes of its
    name plus its value (strings UTF-8 length, numbers about digits/2 + 1, binary length,
    bool/null 1, lists and maps 3 bytes + 1 per element + the elements). None or {}: 0."""
    if not item:
        return 0
    return sum(len(name.encode()) + attribute_value_size(v) for name, v in item.items())


def write_units(size: int, transactional: bool = False) -> int:
    """1 unit per KB (rounded up, at least 1); 2 per KB in TransactWriteItems."""
    return max(1, math.ceil(size / 1024)) * (2 if transactional else 1)


def read_units(size: int, consistent: bool) -> float:
    """1 unit per 4 KB (rounded up, at least 1) for a consistent read, half when eventual."""
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# ---- what DescribeTable tells ------------------------------------------------------------------
@dataclass(frozen=True)
class IndexMeta:
    name: str
    hash_key: str
    range_key: str | None
    projection: str  # ALL, KEYS_ONLY, INCLUDE
    non_key: tuple[str, ...]


@dataclass(frozen=True)
class TableMeta:
    name: str
    arn: str
    hash_key: str
    range_key: str | None
    on_demand: bool
    indexes: tuple[IndexMeta, ...]

    @classmethod
    def from_description(cls, table: dict[str, Any]) -> TableMeta:
        def keys(schema: list[dict[str, str]]) -> tuple[str, str | None]:
            by_type = {k["KeyType"]: k["AttributeName"] for k in schema}
            return by_type["HASH"], by_type.get("RANGE")

        indexes = []
        for index in table.get("GlobalSecondaryIndexes", []):
            hash_key, range_key = keys(index["KeySchema"])
            projection = index.get("Projection", {})
            indexes.append(
                IndexMeta(
                    index["IndexName"],
                    hash_key,
                    range_key,
                    projection.get("ProjectionType", "ALL"),
                    tuple(projection.get("NonKeyAttributes", [])),
                )
            )
        hash_key, range_key = keys(table["KeySchema"])
        mode = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
        return cls(
            table["TableName"],
            table.get(
                "TableArn", f"arn:aws:dynamodb:local:000000000000:table/{table['TableName']}"
            ),
            hash_key,
            range_key,
            mode == "PAY_PER_REQUEST",
            tuple(indexes),
        )

    def key_of(self, item: dict[str, Any]) -> dict[str, Any]:
        names = (self.hash_key, self.range_key) if self.range_key else (self.hash_key,)
        return {n: item[n] for n in names if n in item}

    def index(self, name: str) -> IndexMeta | None:
        return next((i for i in self.indexes if i.name == name), None)


@dataclass(frozen=True)
class Entry:
    """One item's entry in one GSI: which partition, which key, how big, what it holds."""

    partition: str
    key: str
    size: int
    digest: str


@dataclass(frozen=True)
class Shadow:
    """What the proxy knows of an item without asking DynamoDB: its size and index entries."""

    size: int
    entries: dict[str, Entry]

    @classmethod
    def of(cls, meta: TableMeta, item: dict[str, Any] | None) -> Shadow:
        if not item:
            return ABSENT
        entries = {}
        table_keys = [meta.hash_key] + ([meta.range_key] if meta.range_key else [])
        for index in meta.indexes:
            names = [index.hash_key] + ([index.range_key] if index.range_key else [])
            if any(n not in item for n in names):
                continue  # sparse: no entry
            if index.projection == "ALL":
                projected = item
            else:
                keep = set(table_keys) | set(names)
                if index.projection == "INCLUDE":
                    keep |= set(index.non_key)
                projected = {n: v for n, v in item.items() if n in keep}
            text = _canonical(projected)
            entries[index.name] = Entry(
                _canonical(item[index.hash_key]),
                _canonical({n: item[n] for n in names + table_keys}),
                item_size(projected),
                hashlib.blake2b(text.encode(), digest_size=8).hexdigest(),
            )
        return cls(item_size(item), entries)


ABSENT = Shadow(0, {})

# A bucket: (table, index or "", partition key value as canonical JSON).
BucketKey = tuple[str, str, str]


def write_charges(
    meta: TableMeta, key: dict[str, Any], old: Shadow, new: Shadow, transactional: bool
) -> dict[BucketKey, float]:
    """Units one write costs, per bucket: the base partition 1 per KB (2 in a transaction) of the
    larger of before and after; per GSI 1 per KB of each entry written (a changed index key:
    delete + put; an unchanged entry: nothing)."""
    charges: Counter[BucketKey] = Counter()
    charges[(meta.name, "", _canonical(key[meta.hash_key]))] = write_units(
        max(old.size, new.size), transactional
    )
    for index in meta.indexes:
        before, after = old.entries.get(index.name), new.entries.get(index.name)
        if before and after and before.key == after.key:
            if before.digest != after.digest:
                charges[(meta.name, index.name, after.partition)] += write_units(
                    max(before.size, after.size)
                )
            continue
        if before:
            charges[(meta.name, index.name, before.partition)] += write_units(before.size)
        if after:
            charges[(meta.name, index.name, after.partition)] += write_units(after.size)
    return dict(charges)


# ---- token buckets, locks and counts -----------------------------------------------------------
@dataclass
class Bucket:
    level: float
    stamp: float


@dataclass
class Refusal:
    kind: str
    table: str
    index: str
    key: str


@dataclass
class Counts:
    by_kind: Counter[str] = field(default_factory=Counter)
    by_table: dict[str, Counter[str]] = field(default_factory=dict)
    by_key: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    forwarded: int = 0


class Limits:
    """The per-key buckets, the transaction locks and the refusal counts: thread-safe, one lock,
    never held across an upstream call. Usable in-process without the HTTP server."""

    def __init__(
        self,
        write_units_per_key: float = 100,
        read_units_per_key: float = 300,
        lock_ms: float = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write_rate = float(write_units_per_key)
        self.read_rate = float(read_units_per_key)
        self.lock_seconds = lock_ms / 1000
        self.clock = clock
        self._lock = threading.Lock()
        self._write: dict[BucketKey, Bucket] = {}
        self._read: dict[BucketKey, Bucket] = {}
        # item (table, key JSON) -> expiry; math.inf while its transaction is in flight.
        self._locked: dict[tuple[str, str], float] = {}
        self._counts = Counts()

    # buckets (call with self._lock held)
    def _bucket(self, kind: str, key: BucketKey, now: float) -> Bucket:
        buckets, rate = (
            (self._write, self.write_rate) if kind == "w" else (self._read, self.read_rate)
        )
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = Bucket(rate, now)
        else:
            bucket.level = min(rate, bucket.level + (now - bucket.stamp) * rate)
            bucket.stamp = now
        return bucket

    def _empty(self, kind: str, keys: Iterable[BucketKey], now: float) -> BucketKey | None:
        return next((k for k in keys if self._bucket(kind, k, now).level <= 0), None)

    def _charge(self, kind: str, charges: Mapping[BucketKey, float], now: float) -> None:
        for key, units in charges.items():
            if units:
                self._bucket(kind, key, now).level -= units

    def _locked_now(self, item: tuple[str, str], now: float) -> bool:
        expiry = self._locked.get(item)
        if expiry is None:
            return False
        if expiry <= now:
            del self._locked[item]
            return False
        return True

    def _count(self, refusal: Refusal) -> None:
        c = self._counts
        c.by_kind[refusal.kind] += 1
        c.by_table.setdefault(refusal.table, Counter())[refusal.kind] += 1
        c.by_key[(refusal.kind, refusal.table, refusal.index, refusal.key)] += 1

    # the decisions
    def admit(
        self,
        kind: str,
        buckets: list[BucketKey],
        estimate: Mapping[BucketKey, float],
        items: list[tuple[str, str]] = (),  # type: ignore[assignment]
    ) -> Refusal | None:
        """One single-item request (or one key of a batch): refused if one of its items is
        locked by a transaction ("conflict"), or one of its buckets is empty; else pre-charged
        with `estimate` (the caller settles the exact cost with `settle`)."""
        with self._lock:
            now = self.clock()
            for item in items:
                if self._locked_now(item, now):
                    refusal = Refusal("transaction_conflict", item[0], "", item[1])
                    self._count(refusal)
                    return refusal
            empty = self._empty(kind, buckets, now)
            if empty is not None:
                name = "throttled_write" if kind == "w" else "throttled_read"
                refusal = Refusal(name, empty[0], empty[1], empty[2])
                self._count(refusal)
                return refusal
            self._charge(kind, estimate, now)
            self._counts.forwarded += 1
            return None

    def admit_transaction(
        self,
        positions: list[tuple[tuple[str, str], list[BucketKey]]],
        estimate: Mapping[BucketKey, float],
    ) -> list[Refusal | None] | None:
        """A TransactWriteItems: per position (its item, its buckets) a refusal or None; None
        overall when admitted, its items then locked until `release` and pre-charged."""
        with self._lock:
            now = self.clock()
            reasons: list[Refusal | None] = []
            for item, buckets in positions:
                if self._locked_now(item, now):
                    reasons.append(Refusal("transaction_conflict", item[0], "", item[1]))
                    continue
                empty = self._empty("w", buckets, now)
                reasons.append(None if empty is None else Refusal("throttled_write", *empty))
            if any(reasons):
                for refusal in reasons:
                    if refusal:
                        self._count(refusal)
                return reasons
            for item, _ in positions:
                self._locked[item] = math.inf
            self._charge("w", estimate, now)
            self._counts.forwarded += 1
            return None

    def settle(
        self, kind: str, exact: Mapping[BucketKey, float], estimate: Mapping[BucketKey, float]
    ) -> None:
        """Replace a pre-charge by the exact cost (what the answer showed)."""
        delta = Counter(exact)
        delta.subtract(estimate)
        with self._lock:
            self._charge(kind, dict(delta), self.clock())

    def release(self, items: Iterable[tuple[str, str]]) -> None:
        """A transaction answered: its items stay locked `lock_ms` longer."""
        with self._lock:
            expiry = self.clock() + self.lock_seconds
            for item in items:
                self._locked[item] = expiry

    def count_forwarded(self) -> None:
        with self._lock:
            self._counts.forwarded += 1

    # the API
    def counts(self, top: int = 10) -> dict[str, Any]:
        """Refusals by kind, by table, and the most refused keys (what GET /limits answers)."""
        with self._lock:
            c = self._counts
            return {
                "refused": {kind: c.by_kind.get(kind, 0) for kind in KINDS},
                "by_table": {
                    table: {kind: n.get(kind, 0) for kind in KINDS}
                    for table, n in sorted(c.by_table.items())
                },
                "top_keys": [
                    {"kind": kind, "table": table, "index": index or None, "key": key, "count": n}
                    for (kind, table, index, key), n in c.by_key.most_common(top)
                ],
                "admitted": c.forwarded,
                "config": {
                    "write_units_per_key": self.write_rate,
                    "read_units_per_key": self.read_rate,
                    "lock_ms": self.lock_seconds * 1000,
                },
            }

    def reset(self) -> None:
        """Zero the counts and refill every bucket (locks of transactions in flight stay)."""
        with self._lock:
            self._counts = Counts()
            self._write.clear()
            self._read.clear()


# ---- the upstream connection pool ------------------------------------------------------------
class Upstream:
    """Keep-alive connections to DynamoDB Local, a few idle ones kept for reuse."""

    def __init__(self, url: str, size: int = 32, timeout: float = 30) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self._idle: queue.LifoQueue[http.client.HTTPConnection] = queue.LifoQueue(size)

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        conn.connect()
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def send(
        self, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """POST once; a reused connection the server closed meanwhile is retried on a new one
        (nothing was processed then: the request never arrived)."""
        for attempt in range(2):
            try:
                conn, reused = self._idle.get_nowait(), True
            except queue.Empty:
                conn, reused = self._connect(), False
            try:
                conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            if response.will_close:
                conn.close()
            else:
                try:
                    self._idle.put_nowait(conn)
                except queue.Full:
                    conn.close()
            return response.status, response.reason, response.getheaders(), data
        raise AssertionError("unreachable")

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


# ---- the proxy --------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}


def error_answer(type_name: str, fields: dict[str, Any]) -> Answer:
    body = json.dumps({"__type": PREFIX + type_name, **fields}).encode()
    return Answer(400, "Bad Request", [("Content-Type", "application/x-amz-json-1.0")], body)


class LimitsProxy:
    """Forwards DynamoDB JSON requests to `upstream`, refusing what DynamoDB would refuse
    (see the module docstring). `start()` serves on `port` (0: a free one) in a thread."""

    def __init__(
        self,
        upstream: str,
        port: int = 0,
        host: str = "127.0.0.1",
        write_units_per_key: float = 100,
        read_units_per_key: float = 300,
        lock_ms: float = 10,
        clock: Callable[[], float] = time.monotonic,
        after_upstream: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.upstream = Upstream(upstream)
        self.limits = Limits(write_units_per_key, read_units_per_key, lock_ms, clock)
        # Test hook: runs after the upstream answer of a write, before locks are released
        # (a test holds one transaction in flight with it).
        self.after_upstream = after_upstream
        self._meta: dict[str, TableMeta] = {}
        self._shadow: dict[tuple[str, str], Shadow] = {}
        # Tables created through the proxy: every item was written through it, so an item the
        # shadow does not know does not exist (no read before its first write).
        self._complete: set[str] = set()
        self._state = threading.Lock()
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{self._host}:{self._server.server_address[1]}"

    def start(self) -> LimitsProxy:
        self._server = _Server((self._host, self._port), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="dynamodb-limits", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.upstream.close()

    def __enter__(self) -> LimitsProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # the API
    def counts(self) -> dict[str, Any]:
        return self.limits.counts()

    def reset(self) -> None:
        self.limits.reset()

    # upstream helpers
    def _call(self, headers: list[tuple[str, str]], op: str, request: dict[str, Any]) -> Answer:
        """One request of the proxy's own, with the caller's credentials (DynamoDB Local keeps
        a database per access key and region) and target `op`."""
        sent = [(n, v) for n, v in headers if n.lower() != "x-amz-target"]
        sent.append(("X-Amz-Target", TARGET_PREFIX + op))
        status, reason, got, body = self.upstream.send("/", sent, json.dumps(request).encode())
        return Answer(status, reason, got, body)

    def _table(self, headers: list[tuple[str, str]], name: str) -> TableMeta | None:
        meta = self._meta.get(name)
        if meta is None:
            answer = self._call(headers, "DescribeTable", {"TableName": name})
            if answer.status != 200:
                return None
            meta = self._meta[name] = TableMeta.from_description(answer.json()["Table"])
        return meta

    def _known(
        self, headers: list[tuple[str, str]], meta: TableMeta, keys: list[dict[str, Any]]
    ) -> list[Shadow]:
        """The shadows of these items; the unknown ones read (consistent) first."""
        ids = [(meta.name, _canonical(k)) for k in keys]
        with self._state:
            found = [self._shadow.get(i) for i in ids]
        missing = [k for k, s in zip(keys, found, strict=True) if s is None]
        if missing and meta.name in self._complete:
            return [s if s is not None else ABSENT for s in found]
        if missing:
            images = self._read_items(headers, meta, missing)
            with self._state:
                for key in missing:
                    ident = (meta.name, _canonical(key))
                    self._shadow.setdefault(ident, Shadow.of(meta, images.get(_canonical(key))))
                found = [self._shadow[i] for i in ids]
        return [s if s is not None else ABSENT for s in found]

    def _read_items(
        self, headers: list[tuple[str, str]], meta: TableMeta, keys: list[dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        images: dict[str, dict[str, Any]] = {}
        unique = list({_canonical(k): k for k in keys}.values())
        for start in range(0, len(unique), 100):
            pending: list[dict[str, Any]] = unique[start : start + 100]
            while pending:
                answer = self._call(
                    headers,
                    "BatchGetItem",
                    {"RequestItems": {meta.name: {"Keys": pending, "ConsistentRead": True}}},
                )
                if answer.status != 200:
                    return images
                got = answer.json()
                for item in got.get("Responses", {}).get(meta.name, []):
                    images[_canonical(meta.key_of(item))] = item
                pending = got.get("UnprocessedKeys", {}).get(meta.name, {}).get("Keys", [])
        return images

    def _remember(self, meta: TableMeta, key: dict[str, Any], shadow: Shadow) -> None:
        with self._state:
            self._shadow[(meta.name, _canonical(key))] = shadow

    # the request
    def handle(self, path: str, headers: list[tuple[str, str]], body: bytes) -> Answer:
        target = next((v for n, v in headers if n.lower() == "x-amz-target"), "")
        op = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        handler = {
            "PutItem": self._single_write,
            "DeleteItem": self._single_write,
            "UpdateItem": self._single_write,
            "TransactWriteItems": self._transact_write,
            "GetItem": self._get_item,
            "Query": self._query,
            "BatchGetItem": self._batch_get,
            "BatchWriteItem": self._batch_write,
        }.get(op)
        if op in ("CreateTable", "DeleteTable", "UpdateTable"):
            table = json.loads(body or b"{}").get("TableName", "")
            with self._state:
                self._meta.pop(table, None)
                if op != "UpdateTable":
                    self._shadow = {k: v for k, v in self._shadow.items() if k[0] != table}
                    self._complete.discard(table)
            answer = self._forward(path, headers, body)
            if op == "CreateTable" and answer.status == 200:
                self._complete.add(table)
            return answer
        if op in ("ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"):
            self._complete.clear()  # PartiQL writes bypass the shadow: read unknown items again
        if handler is None:
            return self._forward(path, headers, body)
        return handler(op, path, headers, body, json.loads(body))

    def _forward(self, path: str, headers: list[tuple[str, str]], body: bytes) -> Answer:
        status, reason, got, data = self.upstream.send(path, headers, body)
        return Answer(status, reason, got, data)

    def _rewritten(self, answer: Answer, drop: Iterable[str]) -> Answer:
        """The answer without the fields the proxy asked for (and a matching x-amz-crc32)."""
        reply = answer.json()
        for name in drop:
            reply.pop(name, None)
        body = json.dumps(reply, separators=(",", ":")).encode()
        headers = [
            (n, str(zlib.crc32(body)) if n.lower() == "x-amz-crc32" else v)
            for n, v in answer.headers
        ]
        return Answer(answer.status, answer.reason, headers, body)

    def _throttle_message(self, meta: TableMeta, index: str) -> str:
        if meta.on_demand:
            return ON_DEMAND_INDEX_MESSAGE if index else ON_DEMAND_TABLE_MESSAGE
        return PROVISIONED_INDEX_MESSAGE if index else PROVISIONED_TABLE_MESSAGE

    def _refuse(self, meta: TableMeta, refusal: Refusal, operation: str) -> Answer:
        if refusal.kind == "transaction_conflict":
            return error_answer(TRANSACTION_CONFLICT, {"message": CONFLICT_MESSAGE})
        resource = meta.arn + (f"/index/{refusal.index}" if refusal.index else "")
        kind = ("Index" if refusal.index else "Table") + operation
        return error_answer(
            THROUGHPUT_EXCEEDED,
            {
                "message": self._throttle_message(meta, refusal.index),
                "ThrottlingReasons": [
                    {"reason": kind + "KeyRangeThroughputExceeded", "resource": resource}
                ],
            },
        )

    # writes
    def _single_write(
        self,
        op: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        request: dict[str, Any],
    ) -> Answer:
        meta = self._table(headers, request.get("TableName", ""))
        if meta is None:
            return self._forward(path, headers, body)
        new_item = request.get("Item") if op == "PutItem" else None
        key = meta.key_of(new_item) if new_item is not None else request.get("Key", {})
        if meta.hash_key not in key:
            return self._forward(path, headers, body)
        if op == "UpdateItem":
            old = self._known(headers, meta, [key])[0]
        else:  # the answer's ALL_OLD tells the old image exactly; the shadow serves the estimate
            with self._state:
                old = self._shadow.get((meta.name, _canonical(key)), ABSENT)
        guess = (
            Shadow.of(meta, new_item)
            if new_item is not None
            else old
            if op == "UpdateItem"
            else ABSENT
        )
        estimate = write_charges(meta, key, old, guess, False)
        item_id = (meta.name, _canonical(key))
        refusal = self.limits.admit("w", list(estimate), estimate, [item_id])
        if refusal:
            return self._refuse(meta, refusal, "Write")
        asked = request.get("ReturnValues", "NONE")
        wanted = "ALL_NEW" if op == "UpdateItem" else "ALL_OLD"
        injected = asked == "NONE"
        sent = body
        if injected:
            sent = json.dumps({**request, "ReturnValues": wanted}).encode()
        answer = self._forward(path, headers, sent)
        if self.after_upstream is not None:
            self.after_upstream(op, request)
        if answer.status != 200:
            failed = answer.status == 400 and b"ConditionalCheckFailed" in answer.body
            exact = (
                {(meta.name, "", _canonical(key[meta.hash_key])): write_units(old.size)}
                if failed
                else {}
            )
            self.limits.settle("w", exact, estimate)
            return answer
        attributes = answer.json().get("Attributes") if (injected or asked == wanted) else None
        if op == "PutItem":
            before = Shadow.of(meta, attributes) if injected or asked == wanted else old
            after = Shadow.of(meta, new_item)
        elif op == "DeleteItem":
            before = Shadow.of(meta, attributes) if injected or asked == wanted else old
            after = ABSENT
        else:
            before = old
            if attributes is None and not injected:
                attributes = self._read_items(headers, meta, [key]).get(_canonical(key))
            after = Shadow.of(meta, attributes)
        self._remember(meta, key, after)
        self.limits.settle("w", write_charges(meta, key, before, after, False), estimate)
        return self._rewritten(answer, ["Attributes"]) if injected else answer

    def _transact_write(
        self,
        op: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        request: dict[str, Any],
    ) -> Answer:
        actions = []  # (kind, meta, key, new item or None)
        for entry in request.get("TransactItems", []):
            (kind, spec), *_ = entry.items()
            meta = self._table(headers, spec.get("TableName", ""))
            if meta is None:
                return self._forward(path, headers, body)
            item = spec.get("Item") if kind == "Put" else None
            key = meta.key_of(item) if item is not None else spec.get("Key", {})
            if meta.hash_key not in key:
                return self._forward(path, headers, body)
            actions.append((kind, meta, key, item))
        olds: list[Shadow] = []
        by_table: dict[str, list[int]] = {}
        for position, (_, meta, _, _) in enumerate(actions):
            by_table.setdefault(meta.name, []).append(position)
        olds = [ABSENT] * len(actions)
        for positions in by_table.values():
            meta = actions[positions[0]][1]
            known = self._known(headers, meta, [actions[p][2] for p in positions])
            for p, shadow in zip(positions, known, strict=True):
                olds[p] = shadow
        estimate: Counter[BucketKey] = Counter()
        checks = []
        for (kind, meta, key, item), old in zip(actions, olds, strict=True):
            guess = Shadow.of(meta, item) if kind == "Put" else ABSENT if kind == "Delete" else old
            if kind == "ConditionCheck":
                charges: dict[BucketKey, float] = {
                    (meta.name, "", _canonical(key[meta.hash_key])): write_units(old.size, True)
                }
            else:
                charges = write_charges(meta, key, old, guess, True)
            estimate.update(charges)
            checks.append(((meta.name, _canonical(key)), list(charges)))
        reasons = self.limits.admit_transaction(checks, dict(estimate))
        if reasons is not None:
            return self._cancelled(actions, reasons)
        items = [item_id for item_id, _ in checks]
        try:
            answer = self._forward(path, headers, body)
            if self.after_upstream is not None:
                self.after_upstream(op, request)
            exact: Counter[BucketKey] = Counter()
            if answer.status == 200:
                updated = self._read_updated(headers, actions)
                for (kind, meta, key, item), old in zip(actions, olds, strict=True):
                    if kind == "ConditionCheck":
                        exact[(meta.name, "", _canonical(key[meta.hash_key]))] += write_units(
                            old.size, True
                        )
                        continue
                    if kind == "Put":
                        new = Shadow.of(meta, item)
                    elif kind == "Delete":
                        new = ABSENT
                    else:
                        new = Shadow.of(meta, updated.get((meta.name, _canonical(key))))
                    self._remember(meta, key, new)
                    exact.update(write_charges(meta, key, old, new, True))
            elif answer.status == 400 and TRANSACTION_CANCELED.encode() in answer.body:
                for (_, meta, key, _), old in zip(actions, olds, strict=True):
                    exact[(meta.name, "", _canonical(key[meta.hash_key]))] += write_units(
                        old.size, True
                    )
            self.limits.settle("w", dict(exact), dict(estimate))
            return answer
        finally:
            self.limits.release(items)

    def _read_updated(
        self, headers: list[tuple[str, str]], actions: list[Any]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The new images of a committed transaction's updated items (one BatchGetItem per
        table), read while the transaction's locks still hold them."""
        wanted: dict[str, tuple[TableMeta, list[dict[str, Any]]]] = {}
        for kind, meta, key, _ in actions:
            if kind == "Update":
                wanted.setdefault(meta.name, (meta, []))[1].append(key)
        found = {}
        for name, (meta, keys) in wanted.items():
            for k, item in self._read_items(headers, meta, keys).items():
                found[(name, k)] = item
        return found

    def _cancelled(self, actions: list[Any], reasons: list[Refusal | None]) -> Answer:
        listed = []
        for (_, meta, _, _), refusal in zip(actions, reasons, strict=True):
            if refusal is None:
                listed.append({"Code": "None"})
            elif refusal.kind == "transaction_conflict":
                listed.append({"Code": "TransactionConflict", "Message": CONFLICT_MESSAGE})
            else:
                code = "ThrottlingError" if meta.on_demand else "ProvisionedThroughputExceeded"
                listed.append(
                    {"Code": code, "Message": self._throttle_message(meta, refusal.index)}
                )
        message = CANCELLED_MESSAGE.format(", ".join(r["Code"] for r in listed))
        return error_answer(
            TRANSACTION_CANCELED, {"CancellationReasons": listed, "Message": message}
        )

    def _batch_write(
        self,
        op: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        request: dict[str, Any],
    ) -> Answer:
        """Charged (and shadowed), never refused: AutoMart writes through transactions."""
        answer = self._forward(path, headers, body)
        if answer.status != 200:
            return answer
        unprocessed = answer.json().get("UnprocessedItems", {})
        exact: Counter[BucketKey] = Counter()
        for table, writes in request.get("RequestItems", {}).items():
            meta = self._table(headers, table)
            if meta is None or unprocessed.get(table):
                continue
            for write in writes:
                item = write.get("PutRequest", {}).get("Item")
                key = meta.key_of(item) if item else write.get("DeleteRequest", {}).get("Key", {})
                with self._state:
                    old = self._shadow.get((table, _canonical(key)), ABSENT)
                new = Shadow.of(meta, item)
                self._remember(meta, key, new)
                exact.update(write_charges(meta, key, old, new, False))
        self.limits.settle("w", dict(exact), {})
        return answer

    # reads
    def _get_item(
        self,
        op: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        request: dict[str, Any],
    ) -> Answer:
        meta = self._table(headers, request.get("TableName", ""))
        key = request.get("Key", {})
        if meta is None or meta.hash_key not in key:
            return self._forward(path, headers, body)
        consistent = bool(request.get("ConsistentRead"))
        bucket = (meta.name, "", _canonical(key[meta.hash_key]))
        estimate = {bucket: read_units(0, consistent)}
        refusal = self.limits.admit("r", [bucket], estimate)
        if refusal:
            return self._refuse(meta, refusal, "Read")
        answer = self._forward(path, headers, body)
        if answer.status != 200:
            self.limits.settle("r", {}, estimate)
            return answer
        item = answer.json().get("Item")
        with self._state:
            shadow = self._shadow.get((meta.name, _canonical(key)))
        size = max(item_size(item), shadow.size if shadow else 0)
        self.limits.settle("r", {bucket: read_units(size, consistent)}, estimate)
        return answer

    def _query(
        self,
        op: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        request: dict[str, Any],
    ) -> Answer:
        meta = self._table(headers, request.get("TableName", ""))
        if meta is None:
            return self._forward(path, headers, body)
        index_name = request.get("IndexName", "")
        index = meta.index(index_name) if index_name else None
        if index_name and index is None:  # a local secondary index: the table's partition
            index_name = ""
        hash_key = index.hash_key if index else meta.hash_key
        value = partition_value(request, hash_key)
        if value is None:
            return self._forward(path, headers, body)
        consistent = bool(request.get("ConsistentRead"))
        bucket = (meta.name, index_name, _canonical(value))
        estimate = {bucket: read_units(0, consistent)}
        refusal = self.limits.admit("r", [bucket], estimate)
        if refusal:
            return self._refuse(meta, refusal, "Read")
        answer = self._forward(path, headers, body)
        if answer.status != 200:
            self.limits.settle("r", {}, estimate)
            return answer
        size = sum(item_size(item) for item in answer.json().get("Items", []))
        self.limits.settle("r", {bucket: read_units(size, consistent)}, estimate)
        return answer

    def _batch_get(
        self,
        op: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        request: dict[str, Any],
    ) -> Answer:
        """Throttled keys come back in UnprocessedKeys, as DynamoDB does; all throttled: the
        request is refused."""
        kept: dict[str, Any] = {}
        left: dict[str, Any] = {}
        charged: list[tuple[TableMeta, dict[str, Any], BucketKey, bool]] = []
        first: tuple[TableMeta, Refusal] | None = None
        estimate: dict[BucketKey, float] = {}
        for table, spec in request.get("RequestItems", {}).items():
            meta = self._table(headers, table)
            if meta is None:
                return self._forward(path, headers, body)
            consistent = bool(spec.get("ConsistentRead"))
            ok, throttled = [], []
            for key in spec.get("Keys", []):
                bucket = (table, "", _canonical(key.get(meta.hash_key)))
                one = {bucket: read_units(0, consistent)}
                refusal = self.limits.admit("r", [bucket], one)
                if refusal:
                    throttled.append(key)
                    first = first or (meta, refusal)
                    continue
                ok.append(key)
                charged.append((meta, key, bucket, consistent))
                estimate[bucket] = estimate.get(bucket, 0) + one[bucket]
            if ok:
                kept[table] = {**spec, "Keys": ok}
            if throttled:
                left[table] = {**spec, "Keys": throttled}
        if not kept and first is not None:
            return self._refuse(first[0], first[1], "Read")
        sent = body if not left else json.dumps({**request, "RequestItems": kept}).encode()
        answer = self._forward(path, headers, sent)
        if answer.status != 200:
            self.limits.settle("r", {}, estimate)
            return answer
        reply = answer.json()
        sizes: dict[tuple[str, str], int] = {}
        for table, items in reply.get("Responses", {}).items():
            meta = self._meta.get(table)
            for item in items:
                if meta is not None:
                    sizes[(table, _canonical(meta.key_of(item)))] = item_size(item)
        exact: dict[BucketKey, float] = {}
        for meta, key, bucket, consistent in charged:
            units = read_units(sizes.get((meta.name, _canonical(key)), 0), consistent)
            exact[bucket] = exact.get(bucket, 0) + units
        self.limits.settle("r", dict(exact), estimate)
        if not left:
            return answer
        unprocessed = reply.setdefault("UnprocessedKeys", {})
        for table, spec in left.items():
            if table in unprocessed:
                unprocessed[table]["Keys"] = unprocessed[table]["Keys"] + spec["Keys"]
            else:
                unprocessed[table] = spec
        answer = Answer(answer.status, answer.reason, answer.headers, json.dumps(reply).encode())
        return self._rewritten(answer, [])


def partition_value(request: dict[str, Any], hash_key: str) -> dict[str, Any] | None:
    """The partition key value a Query names: `#pk = :v` in KeyConditionExpression (names and
    values resolved), or the legacy KeyConditions."""
    legacy = request.get("KeyConditions", {}).get(hash_key)
    if legacy:
        return legacy["AttributeValueList"][0]
    expression = request.get("KeyConditionExpression", "")
    names = request.get("ExpressionAttributeNames", {})
    values = request.get("ExpressionAttributeValues", {})
    for clause in expression.replace("(", " ").replace(")", " ").split(" AND "):
        left, equals, right = clause.partition("=")
        if not equals or left.endswith(("<", ">", "!")):
            continue
        left, right = left.strip(), right.strip()
        for name, value in ((left, right), (right, left)):
            if names.get(name, name) == hash_key and value in values:
                return values[value]
    return None


# ---- HTTP --------------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True
    allow_reuse_address = True
    proxy: LimitsProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses its connections
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass

    def _reply(self, answer: Answer) -> None:
        lines = [f"{self.protocol_version} {answer.status} {answer.reason}\r\n"]
        lines += [f"{n}: {v}\r\n" for n, v in answer.headers if n.lower() not in HOP_BY_HOP]
        lines.append(f"Content-Length: {len(answer.body)}\r\n")
        if self.close_connection:
            lines.append("Connection: close\r\n")
        # One write: headers and body apart would meet Nagle and delayed ACKs (40 ms).
        self.wfile.write("".join(lines).encode("latin-1") + b"\r\n" + answer.body)

    def _json(self, status: int, value: Any) -> None:
        body = json.dumps(value).encode()
        self._reply(Answer(status, "OK", [("Content-Type", "application/json")], body))

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/limits":
            self._json(200, self.server.proxy.counts())
        else:
            self._json(404, {"message": "only GET /limits here"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") == "/limits/reset":
            self.server.proxy.reset()
            self._json(200, self.server.proxy.counts())
            return
        headers = [(n, v) for n, v in self.headers.items() if n.lower() not in HOP_BY_HOP]
        try:
            answer = self.server.proxy.handle(self.path, headers, body)
        except (OSError, http.client.HTTPException):
            # Upstream unreachable: drop the connection, as a dead endpoint would.
            self.close_connection = True
            return
        self._reply(answer)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="DynamoDB Local, http://host:port")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--write-units-per-key", type=float, default=100)
    parser.add_argument("--read-units-per-key", type=float, default=300)
    parser.add_argument("--lock-ms", type=float, default=10)
    args = parser.parse_args(argv)
    proxy = LimitsProxy(
        args.upstream,
        args.port,
        args.host,
        args.write_units_per_key,
        args.read_units_per_key,
        args.lock_ms,
    ).start()
    print(f"DynamoDB limits proxy on {proxy.url} -> {args.upstream}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        proxy.stop()


if __name__ == "__main__":
    main()
