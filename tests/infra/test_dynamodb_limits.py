"""infra/dynamodb_limits.py: the proxy in front of a real DynamoDB Local refuses like DynamoDB
(per-key throttling, transaction conflicts), in the shapes botocore and PynamoDB parse.

Time is a fake clock the tests move: buckets and lock expiry are deterministic, no sleeps."""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError

from chalicelib.store.db import is_retryable
from infra import dynamodb_local
from infra.dynamodb_limits import (
    CONFLICT_MESSAGE,
    ON_DEMAND_INDEX_MESSAGE,
    ON_DEMAND_TABLE_MESSAGE,
    LimitsProxy,
    item_size,
    read_units,
    write_units,
)
from tests.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
TABLE = "limits-orders"
INDEX = "by_list"
RATE = 10  # units per key per second, both ways: small numbers, exact counts


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """One DynamoDB Local for the module, with one on-demand table and its GSI."""
    try:
        dynamodb_local.find_java()
        dynamodb_local.find_home()
    except dynamodb_local.DynamoDBLocalUnavailable as error:
        pytest.fail(f"DynamoDB Local cannot run: {error}", pytrace=False)
    port = free_port()
    process = dynamodb_local.start(port)
    url = f"http://127.0.0.1:{port}"
    client(url).create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "list_key", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": INDEX,
                "KeySchema": [
                    {"AttributeName": "list_key", "KeyType": "HASH"},
                    {"AttributeName": "id", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    yield url
    process.terminate()
    process.wait(timeout=10)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def proxy(upstream: str, clock: Clock) -> Iterator[LimitsProxy]:
    with LimitsProxy(
        upstream, write_units_per_key=RATE, read_units_per_key=RATE, lock_ms=10, clock=clock
    ) as running:
        yield running


def client(url: str) -> Any:
    """A botocore client that never retries: every refusal reaches the test (and the counts)."""
    return botocore.session.get_session().create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def pynamo(url: str) -> Connection:
    """PynamoDB's connection, as chalicelib.store.db builds it, without retries."""
    connection = Connection(
        region="us-east-1", host=url, retry_configuration={"total_max_attempts": 1}
    )
    connection.describe_table(TABLE)  # its meta table, which put_item needs
    return connection


def key(value: str) -> dict[str, Any]:
    return {"id": {"S": value}}


def fresh() -> str:
    return uuid.uuid4().hex


def put(db: Any, ident: str, n: int, **extra: Any) -> None:
    db.put_item(TableName=TABLE, Item={**key(ident), "n": {"N": str(n)}, **extra})


def n_of(upstream: str, ident: str) -> int | None:
    item = client(upstream).get_item(TableName=TABLE, Key=key(ident), ConsistentRead=True)
    return int(item["Item"]["n"]["N"]) if "Item" in item else None


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response


def get_json(proxy: LimitsProxy, method: str, path: str) -> Any:
    host, port = proxy.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request(method, path)
    answer = conn.getresponse()
    assert answer.status == 200
    return json.loads(answer.read())


# ---- sizes -----------------------------------------------------------------------------------
def test_item_size_counts_as_dynamodb_does() -> None:
    assert item_size({"a": {"S": "abc"}}) == 4
    assert item_size({"é": {"S": "é"}}) == 4  # UTF-8 bytes, name and value
    assert item_size({"n": {"N": "123"}}) == 1 + 3  # ceil(3 / 2) + 1
    assert item_size({"n": {"N": "1000"}}) == 1 + 2  # trailing zeros trimmed
    assert item_size({"n": {"N": "-1.50"}}) == 1 + 2  # 2 significant digits (no sign byte)
    assert item_size({"b": {"B": "AAEC"}}) == 1 + 3  # base64 of 3 bytes
    assert item_size({"t": {"BOOL": True}, "z": {"NULL": True}}) == 4
    assert item_size({"l": {"L": [{"S": "ab"}, {"BOOL": False}]}}) == 1 + 3 + (1 + 2) + (1 + 1)
    assert item_size({"m": {"M": {"x": {"S": "y"}}}}) == 1 + 3 + 1 + 1 + 1
    assert item_size(None) == 0
    assert write_units(1024) == 1 and write_units(1025) == 2 and write_units(10, True) == 2
    assert read_units(4097, True) == 2 and read_units(1, False) == 0.5


# ---- forwarding ----------------------------------------------------------------------------
def test_dynamodb_local_does_not_check_signatures(upstream: str) -> None:
    """Why the proxy can forward the client's headers as they came (its Host included)."""
    host, port = upstream.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request(
        "POST",
        "/",
        body=b"{}",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
            "Host": "somewhere.else:1",
            "X-Amz-Date": "20000101T000000Z",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20000101/us-east-1/dynamodb/"
            "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
        },
    )
    answer = conn.getresponse()
    assert answer.status == 200, answer.read()
    assert TABLE in json.loads(answer.read())["TableNames"]


def test_answers_pass_through_unchanged(proxy: LimitsProxy, upstream: str) -> None:
    db, ident = client(proxy.url), fresh()
    first = db.put_item(TableName=TABLE, Item={**key(ident), "n": {"N": "1"}})
    assert "Attributes" not in first  # the injected ReturnValues is stripped (crc32 checked)
    old = db.put_item(TableName=TABLE, Item={**key(ident), "n": {"N": "2"}}, ReturnValues="ALL_OLD")
    assert old["Attributes"] == {**key(ident), "n": {"N": "1"}}
    updated = db.update_item(
        TableName=TABLE,
        Key=key(ident),
        UpdateExpression="SET n = n + :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    assert "Attributes" not in updated
    assert n_of(upstream, ident) == 3
    error = error_of(lambda: db.get_item(TableName="no-such-table", Key=key(ident)))
    assert error["Error"]["Code"] == "ResourceNotFoundException"  # upstream's, as it came


# ---- transaction conflicts ---------------------------------------------------------------------
def test_overlapping_transactions_conflict(proxy: LimitsProxy, upstream: str, clock: Clock) -> None:
    held, entered, release = fresh(), threading.Event(), threading.Event()

    def hold_first(op: str, request: dict[str, Any]) -> None:
        if op == "TransactWriteItems" and not entered.is_set():
            entered.set()
            assert release.wait(10)

    proxy.after_upstream = hold_first
    db = client(proxy.url)
    first = threading.Thread(
        target=lambda: db.transact_write_items(
            TransactItems=[{"Put": {"TableName": TABLE, "Item": {**key(held), "n": {"N": "1"}}}}]
        )
    )
    first.start()
    assert entered.wait(10)  # the first transaction is in flight: its item is locked
    other = fresh()
    second = [
        {"Put": {"TableName": TABLE, "Item": {**key(other), "n": {"N": "2"}}}},
        {
            "Update": {
                "TableName": TABLE,
                "Key": key(held),
                "UpdateExpression": "SET n = :n",
                "ExpressionAttributeValues": {":n": {"N": "2"}},
            }
        },
    ]
    error = error_of(lambda: db.transact_write_items(TransactItems=second))
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert error["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "TransactionConflict", "Message": CONFLICT_MESSAGE},
    ]
    assert error["Error"]["Message"] == (
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[None, TransactionConflict]"
    )
    release.set()
    first.join(10)
    assert n_of(upstream, other) is None  # nothing of the refused transaction was written
    assert n_of(upstream, held) == 1

    # Answered, but not lock_ms ago yet (the clock stands still): still locked, and a single
    # write on the item is refused too; PynamoDB parses both, `is_retryable` retries both.
    with pytest.raises(TransactWriteError) as caught:
        pynamo(proxy.url).transact_write_items([], [], [], [second[1]["Update"]])
    reasons = caught.value.cancellation_reasons
    assert reasons[0] is not None and reasons[0].code == "TransactionConflict"
    assert is_retryable(caught.value)
    single = error_of(lambda: put(db, held, 9))
    assert single["Error"] == {"Code": "TransactionConflictException", "Message": CONFLICT_MESSAGE}
    assert single["ResponseMetadata"]["HTTPStatusCode"] == 400

    clock.now += 0.011  # the lock expired: the same transaction commits
    db.transact_write_items(TransactItems=second)
    assert (n_of(upstream, other), n_of(upstream, held)) == (2, 2)
    counts = proxy.counts()
    assert counts["refused"] == {
        "transaction_conflict": 3,
        "throttled_write": 0,
        "throttled_read": 0,
    }
    assert counts["top_keys"][0] == {
        "kind": "transaction_conflict",
        "table": TABLE,
        "index": None,
        "key": json.dumps({"id": {"S": held}}, separators=(",", ":")),
        "count": 3,
    }


# ---- write throttling ------------------------------------------------------------------------
def test_hot_key_is_throttled_and_recovers(proxy: LimitsProxy, upstream: str, clock: Clock) -> None:
    db, hot, cold = client(proxy.url), fresh(), fresh()
    for n in range(RATE):  # 1 unit each: the burst of one second, spent
        put(db, hot, n)
    error = error_of(lambda: put(db, hot, 99))
    assert error["Error"] == {
        "Code": "ProvisionedThroughputExceededException",
        "Message": ON_DEMAND_TABLE_MESSAGE,
    }
    assert error["ThrottlingReasons"][0]["reason"] == "TableWriteKeyRangeThroughputExceeded"
    assert n_of(upstream, hot) == RATE - 1  # the refused write was not applied
    put(db, cold, 1)  # another key meanwhile: not throttled

    # In a transaction: the reason code, at its position; PynamoDB and `is_retryable` see it.
    items = [{"TableName": TABLE, "Item": {**key(cold), "n": {"N": "2"}}}]
    items.append({"TableName": TABLE, "Item": {**key(hot), "n": {"N": "2"}}})
    with pytest.raises(TransactWriteError) as caught:
        pynamo(proxy.url).transact_write_items([], [], items, [])
    codes = [r.code if r else None for r in caught.value.cancellation_reasons]
    assert codes == [None, "ThrottlingError"]
    assert caught.value.cancellation_reasons[1].message == ON_DEMAND_TABLE_MESSAGE  # type: ignore[union-attr]
    assert is_retryable(caught.value)
    with pytest.raises(PutError) as single:
        pynamo(proxy.url).put_item(TABLE, hot, attributes={"n": {"N": "5"}})
    assert is_retryable(single.value)
    assert (n_of(upstream, hot), n_of(upstream, cold)) == (RATE - 1, 1)

    clock.now += 0.5  # half a second: 5 units back, a 2-unit transactional write fits
    pynamo(proxy.url).transact_write_items([], [], items, [])
    assert (n_of(upstream, hot), n_of(upstream, cold)) == (2, 2)
    counts = proxy.counts()
    assert counts["refused"]["throttled_write"] == 3
    assert counts["by_table"][TABLE]["throttled_write"] == 3


def test_hot_index_partition_throttles_the_base_write(
    proxy: LimitsProxy, upstream: str, clock: Clock
) -> None:
    db, listed = client(proxy.url), fresh()
    every = {"list_key": {"S": listed}}
    for _ in range(RATE):  # distinct items, one index partition: 1 entry write each
        put(db, fresh(), 1, **every)
    late = fresh()
    error = error_of(lambda: put(db, late, 1, **every))
    assert error["Error"] == {
        "Code": "ProvisionedThroughputExceededException",
        "Message": ON_DEMAND_INDEX_MESSAGE,
    }
    assert error["ThrottlingReasons"][0]["reason"] == "IndexWriteKeyRangeThroughputExceeded"
    assert error["ThrottlingReasons"][0]["resource"].endswith(f"/index/{INDEX}")
    assert n_of(upstream, late) is None
    put(db, late, 1)  # the same item outside the index partition: fine
    transaction = [
        {"Put": {"TableName": TABLE, "Item": {**key(fresh()), "n": {"N": "1"}, **every}}}
    ]
    error = error_of(lambda: db.transact_write_items(TransactItems=transaction))
    assert error["CancellationReasons"] == [
        {"Code": "ThrottlingError", "Message": ON_DEMAND_INDEX_MESSAGE}
    ]
    # An update that moves the item into the partition costs it a put: known only after the
    # write (the update's new image), charged then.
    assert proxy.counts()["top_keys"][0]["index"] == INDEX
    clock.now += 1
    put(db, late, 2, **every)
    assert n_of(upstream, late) == 2


# ---- reads -------------------------------------------------------------------------------------
def test_reads_over_the_rate_are_throttled(proxy: LimitsProxy, upstream: str, clock: Clock) -> None:
    writer, ident = client(upstream), fresh()
    put(writer, ident, 1, list_key={"S": ident})
    db = client(proxy.url)
    for _ in range(RATE // 2):  # consistent: 1 unit each
        db.get_item(TableName=TABLE, Key=key(ident), ConsistentRead=True)
    for _ in range(RATE):  # eventually consistent: half a unit
        db.get_item(TableName=TABLE, Key=key(ident))
    error = error_of(lambda: db.get_item(TableName=TABLE, Key=key(ident)))
    assert error["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert error["ThrottlingReasons"][0]["reason"] == "TableReadKeyRangeThroughputExceeded"

    # A batch: the throttled key comes back unprocessed, the others are read.
    other = fresh()
    put(writer, other, 7)
    got = db.batch_get_item(RequestItems={TABLE: {"Keys": [key(ident), key(other)]}})
    assert got["Responses"][TABLE] == [{**key(other), "n": {"N": "7"}}]
    assert got["UnprocessedKeys"] == {TABLE: {"Keys": [key(ident)]}}
    alone = error_of(lambda: db.batch_get_item(RequestItems={TABLE: {"Keys": [key(ident)]}}))
    assert alone["Error"]["Code"] == "ProvisionedThroughputExceededException"

    query = {
        "TableName": TABLE,
        "IndexName": INDEX,
        "KeyConditionExpression": "#l = :l",
        "ExpressionAttributeNames": {"#l": "list_key"},
        "ExpressionAttributeValues": {":l": {"S": ident}},
    }
    for _ in range(2 * RATE):
        assert db.query(**query)["Count"] == 1
    assert error_of(lambda: db.query(**query))["Error"]["Code"] == (
        "ProvisionedThroughputExceededException"
    )
    clock.now += 1
    assert db.get_item(TableName=TABLE, Key=key(ident))["Item"]["n"] == {"N": "1"}
    counts = proxy.counts()
    assert counts["refused"] == {
        "transaction_conflict": 0,
        "throttled_write": 0,
        "throttled_read": 4,
    }
    assert {(k["index"], k["count"]) for k in counts["top_keys"]} == {(None, 3), (INDEX, 1)}


# ---- the counts ------------------------------------------------------------------------------
def test_limits_endpoint_counts_and_resets(proxy: LimitsProxy) -> None:
    db, hot = client(proxy.url), fresh()
    for n in range(RATE):
        put(db, hot, n)
    for _ in range(2):
        error_of(lambda: put(db, hot, 0))
    counted = get_json(proxy, "GET", "/limits")
    assert counted == proxy.counts()
    assert counted["refused"]["throttled_write"] == 2
    assert counted["by_table"] == {
        TABLE: {"transaction_conflict": 0, "throttled_write": 2, "throttled_read": 0}
    }
    assert counted["top_keys"][0]["count"] == 2
    reset = get_json(proxy, "POST", "/limits/reset")
    assert reset["refused"] == {
        "transaction_conflict": 0,
        "throttled_write": 0,
        "throttled_read": 0,
    }
    assert reset["top_keys"] == [] and reset["by_table"] == {}
    put(db, hot, 1)  # the buckets are full again (the clock did not move)


def test_chalicelib_never_imports_the_proxy() -> None:
    """infra/ is not in the Lambda package: nothing under chalicelib may need it."""
    users = [
        path
        for path in (ROOT / "chalicelib").rglob("*.py")
        if "dynamodb_limits" in path.read_text(encoding="utf-8")
    ]
    assert users == []
