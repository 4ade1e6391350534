"""Binding the models to their tables, one shared botocore client, table creation, transactions."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.errors import Busy
from chalicelib.settings import get_settings
from chalicelib.store.models import MODELS

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
            shared = Connection(region=settings.region, host=settings.dynamodb_endpoint)
            for model in MODELS:
                # Models inherit one Meta from the base class: give each its own.
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
    """DynamoDB could not serve us (throttled, or its own 5xx after botocore's retries)."""
    if not isinstance(exc, PynamoDBException):
        return False
    response = getattr(exc.cause, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return is_retryable(exc) or status >= 500


class Contention(Exception):
    """An optimistic write found the item changed since it was read: read and try again."""


def with_retries(operation: Callable[[], T], attempts: int = 5, base_delay: float = 0.02) -> T:
    """Run `operation`, retrying transaction conflicts and throttling with jittered backoff.

    When the retries run out the caller gets 503 with Retry-After: nothing was written.
    """
    for attempt in range(attempts):
        try:
            return operation()
        except (PynamoDBException, Contention) as exc:
            if isinstance(exc, PynamoDBException) and not is_retryable(exc):
                raise
            if attempt == attempts - 1:
                raise Busy(headers={"Retry-After": "1"}) from exc
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


def transaction() -> TransactWrite:
    return TransactWrite(connection=bind())
