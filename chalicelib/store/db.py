"""Binding the models to their tables, one shared botocore client, table creation, and the
retry policy (what is retryable, what means DynamoDB is unavailable). Writes: `store.transact`."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError

from chalicelib.errors import Busy
from chalicelib.settings import get_settings
from chalicelib.store.models import MODELS

# ---- time budget of a DynamoDB call -------------------------------------------------------
# A request that cannot reach DynamoDB answers 503 `busy` with Retry-After within this long:
# API Gateway gives up at 29 s (a bare 504 after the client waited), and a client retries
# sooner with our Retry-After than with no answer at all.
REQUEST_BUDGET_SECONDS = 10.0
# TCP (and TLS) connect to the endpoint: milliseconds in a region, instant locally; after 1 s
# the endpoint is not there.
DYNAMODB_CONNECT_TIMEOUT_SECONDS = 1.0
# Silence while waiting for the answer. DynamoDB answers in milliseconds (a 100-item transaction
# or a 1 MB page well under a second; moto serialized behind 16 clients well under 3 s): 3 s of
# silence is a stall. PynamoDB's default is 30 s, retried 3 times.
DYNAMODB_READ_TIMEOUT_SECONDS = 3.0
# Attempts per call, the first included. botocore's "standard" mode retries timeouts, dropped
# connections, 5xx and throttling, once here: one more stalled attempt would not fit the budget.
# Throttling and transaction conflicts are retried again by `with_retries`, which never retries
# a timeout or a dropped connection (they are not `is_retryable`), so a stall costs one call.
DYNAMODB_MAX_ATTEMPTS = 2
DYNAMODB_RETRIES = {"mode": "standard", "total_max_attempts": DYNAMODB_MAX_ATTEMPTS}
# Worst case of one call that never gets an answer: every attempt connects slowly, then reads
# nothing. botocore's standard backoff before attempt n+1 is at most 2**(n-1) s (botocore 1.44:
# 25 ms * 2**(n-1) for DynamoDB errors other than throttling); the runtime's botocore may be older.
DYNAMODB_CALL_BUDGET_SECONDS = DYNAMODB_MAX_ATTEMPTS * (
    DYNAMODB_CONNECT_TIMEOUT_SECONDS + DYNAMODB_READ_TIMEOUT_SECONDS
) + (2 ** (DYNAMODB_MAX_ATTEMPTS - 1) - 1)
if DYNAMODB_CALL_BUDGET_SECONDS >= REQUEST_BUDGET_SECONDS:
    raise RuntimeError("a stalled DynamoDB call would outlast REQUEST_BUDGET_SECONDS")

# `with_retries` starts no new attempt after this long: persistent throttling (each throttled
# call may back off for a second or more inside botocore) still answers within the budget.
# Timeouts are never retried there, so a stall costs one call.
RETRY_DEADLINE_SECONDS = REQUEST_BUDGET_SECONDS / 2

# botocore's "no answer at all" errors (the ones its standard retry mode treats as transient):
# ConnectionError covers EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError and
# SSLError; HTTPClientError covers ReadTimeoutError, ConnectionClosedError, ResponseStreamingError.
NO_ANSWER_ERRORS = (BotocoreConnectionError, HTTPClientError)


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc`, what it wraps (PynamoDB's `cause`) and what it was raised from, outermost first."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found and len(found) < 8:
        found.append(current)
        wrapped = current.cause if isinstance(current, PynamoDBException) else None
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__
    return found


def _status(error: BaseException) -> int:
    response = getattr(error, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


_lock = threading.Lock()
_connection: Connection | None = None

T = TypeVar("T")

RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
RETRYABLE_CODES = {
    "TransactionConflictException",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionInProgressException",
    "InternalServerError",
}


def table_name(model: Any) -> str:
    return get_settings().table_prefix + model.logical_name


def bind() -> Connection:
    """Point every model at its table, all through one client (one costs ~100 ms to build)."""
    global _connection
    if _connection is not None:
        return _connection
    with _lock:
        if _connection is None:
            settings = get_settings()
            # Timeouts and retries bound a stalled DynamoDB (see DYNAMODB_CALL_BUDGET_SECONDS).
            shared = Connection(
                region=settings.region,
                host=settings.dynamodb_endpoint,
                connect_timeout_seconds=DYNAMODB_CONNECT_TIMEOUT_SECONDS,
                read_timeout_seconds=DYNAMODB_READ_TIMEOUT_SECONDS,
                retry_configuration=DYNAMODB_RETRIES,  # max_retry_attempts is for LEGACY only
            )
            for model in MODELS:
                # Models inherit one Meta from the base class: give each its own. Their calls
                # all go through `shared` (below), so its timeouts are the only ones.
                meta = {
                    "table_name": table_name(model),
                    "host": settings.dynamodb_endpoint,
                    "region": settings.region,
                }
                model.Meta = type("Meta", (model.Meta,), meta)  # type: ignore[misc,assignment]
                model._connection = None
                table = model._get_connection()
                shared.add_meta_table(table.connection.get_meta_table(table.table_name))
                table.connection = shared
            _connection = shared
    return _connection


def unbind() -> None:
    """Forget the binding (tests that change the environment)."""
    global _connection
    with _lock:
        for model in MODELS:
            model._connection = None
        _connection = None


def client() -> Any:
    """The botocore DynamoDB client every model shares."""
    return bind().client


def create_tables() -> list[str]:
    bind()
    created = []
    for model in MODELS:
        if not model.exists():
            model.create_table(wait=True)
            created.append(model.Meta.table_name)
        ttl = next(
            (
                name
                for name, attr in model.get_attributes().items()
                if type(attr).__name__ == "TTLAttribute"
            ),
            None,
        )
        if ttl:
            try:
                client().update_time_to_live(
                    TableName=model.Meta.table_name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl},
                )
            except Exception as exc:  # already enabled, or an emulator without TTL
                if "already enabled" not in str(exc).lower() and "TimeToLive" not in str(exc):
                    raise
    return created


def _error_code(exc: PynamoDBException) -> str | None:
    return getattr(exc, "cause_response_code", None)


def cancellation_codes(exc: TransactWriteError) -> list[str | None]:
    return [reason.code if reason else None for reason in exc.cancellation_reasons]


def is_retryable(exc: PynamoDBException) -> bool:
    if isinstance(exc, TransactWriteError) and exc.cancellation_reasons:
        codes = {code for code in cancellation_codes(exc) if code and code != "None"}
        return bool(codes) and codes <= RETRYABLE_REASONS
    return _error_code(exc) in RETRYABLE_CODES


def is_unavailable(exc: BaseException) -> bool:
    """DynamoDB could not serve us: no answer (timeouts, refused or dropped connections),
    throttled, or its own 5xx, after botocore's retries; raw botocore errors (`client()` calls)
    or wrapped in PynamoDB's exceptions. A client error (4xx, a failed condition) is not."""
    for error in _chain(exc):
        if isinstance(error, NO_ANSWER_ERRORS):
            return True
        if isinstance(error, PynamoDBException) and is_retryable(error):
            return True
        if isinstance(error, ClientError) and (
            error.response.get("Error", {}).get("Code") in RETRYABLE_CODES
        ):
            return True
        if _status(error) >= 500:
            return True
    return False


class Contention(Exception):
    """An optimistic write found the item changed since it was read: read and try again."""


def with_retries(operation: Callable[[], T], attempts: int = 5, base_delay: float = 0.02) -> T:
    """Run `operation`, retrying transaction conflicts and throttling with jittered backoff.

    When the retries run out, or the time to start another one (RETRY_DEADLINE_SECONDS), the
    caller gets 503 with Retry-After: nothing was written.
    """
    deadline = time.monotonic() + RETRY_DEADLINE_SECONDS
    for attempt in range(attempts):
        try:
            return operation()
        except (PynamoDBException, Contention) as exc:
            if isinstance(exc, PynamoDBException) and not is_retryable(exc):
                raise
            if attempt == attempts - 1 or time.monotonic() >= deadline:
                raise Busy() from exc
            time.sleep(random.uniform(0, base_delay * 2**attempt))
    raise AssertionError("unreachable")


def get_live(model: Any, key: str, ended: str) -> Any | None:
    """The item (strongly consistent), or None if it does not exist or its `ended` attribute
    (cancelled_at, reversed_at, ...) is set."""
    try:
        item = model.get(key, consistent_read=True)
    except model.DoesNotExist:
        return None
    return None if getattr(item, ended) is not None else item
