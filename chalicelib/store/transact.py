"""The unit of work: the writes of one business operation, sent as one TransactWriteItems, and the
batched consistent reads that precede them.

    uow = UnitOfWork()
    order_slot = uow.put(order, condition=SalesOrder.id.does_not_exist())
    ...
    failed = uow.commit()        # retryable errors raise; failed conditions come back
    if order_slot in failed: ...

Every add returns a `Slot`, an object the write owns: `commit()` reports the slots whose condition
failed, with the item as it was when asked (`old=True`). This module is the only one that knows
PynamoDB's transaction and key internals: it builds each item's request with the models' public
`get_*_kwargs` methods and sends them in the order they were added, so a cancellation reason is
matched to its slot by position, whatever order PynamoDB would have chosen.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from pynamodb.connection.base import BOTOCORE_EXCEPTIONS
from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import CancellationReason, PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.store import db, parts
from chalicelib.store.models import IdempotencyMarker, Product, StockPart, User

log = logging.getLogger("automart")

M = TypeVar("M")

MAX_ITEMS = 100  # DynamoDB's limit of one TransactWriteItems
CONDITION_FAILED = "ConditionalCheckFailed"  # a cancellation reason's code
CONDITION_FAILED_ERROR = "ConditionalCheckFailedException"  # a single write's error code


def condition_failed(exc: BaseException) -> bool:
    """Did a write fail because a condition of ours was false (any write, single or in a
    transaction)?"""
    if isinstance(exc, TransactWriteError):
        return any(
            reason and reason.code == CONDITION_FAILED for reason in exc.cancellation_reasons
        )
    return (
        isinstance(exc, PynamoDBException)
        and getattr(exc, "cause_response_code", None) == CONDITION_FAILED_ERROR
    )


@dataclass(eq=False, frozen=True)
class Slot:
    """One item of a unit of work (compared by identity: each add makes a new one)."""

    name: str  # for logs and reprs only


class TooLarge(Exception):
    """More items than one transaction takes: nothing was sent."""


class Failures(Mapping[Slot, CancellationReason]):
    """The slots whose condition failed, each with its cancellation reason."""

    def __init__(self, failed: dict[Slot, CancellationReason]) -> None:
        self._failed = failed

    def __getitem__(self, slot: Slot) -> CancellationReason:
        return self._failed[slot]

    def __iter__(self) -> Iterator[Slot]:
        return iter(self._failed)

    def __len__(self) -> int:
        return len(self._failed)

    def old(self, slot: Slot, model: type[M]) -> M | None:
        """The item as it was when its condition failed (asked with old=True), or None if it
        did not exist."""
        raw = self._failed[slot].raw_item
        return model.from_raw_data(raw) if raw else None  # type: ignore[attr-defined]


class UnitOfWork:
    """Collects writes, then commits them all or none."""

    def __init__(self) -> None:
        self._items: list[tuple[Slot, dict[str, Any]]] = []
        self._after: list[Callable[[], None]] = []

    def _add(self, name: str, kind: str, kwargs: dict[str, Any]) -> Slot:
        slot = Slot(name)
        self._items.append((slot, {kind: kwargs}))
        return slot

    def put(self, item: Any, condition: Condition | None = None, name: str = "put") -> Slot:
        return self._add(name, "Put", item.get_save_kwargs_from_instance(condition=condition))

    def update(
        self,
        item: Any,
        actions: list[Action],
        condition: Condition | None = None,
        old: bool = False,
        name: str = "update",
    ) -> Slot:
        kwargs = item.get_update_kwargs_from_instance(
            actions=actions,
            condition=condition,
            return_values_on_condition_failure=ALL_OLD if old else None,
        )
        return self._add(name, "Update", kwargs)

    def delete(self, item: Any, condition: Condition | None = None, name: str = "delete") -> Slot:
        return self._add(name, "Delete", item.get_delete_kwargs_from_instance(condition=condition))

    def check(self, model: Any, key: str, condition: Condition, name: str = "check") -> Slot:
        kwargs = model.get_operation_kwargs_from_class(key, condition=condition)
        return self._add(name, "ConditionCheck", kwargs)

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` once this unit of work has committed (metrics, best-effort follow-ups)."""
        self._after.append(hook)

    def commit(self) -> Failures:
        """Write everything or nothing.

        Returns the failed conditions (empty: committed). Raises TooLarge, what `db.with_retries`
        retries (conflicts, throttling) and any other error as it came.
        """
        if len(self._items) > MAX_ITEMS:
            raise TooLarge(f"{len(self._items)} items")
        # The token makes botocore's own resend of a request whose answer was lost (a timeout
        # after the commit) answer as the first did, instead of failing its conditions.
        request = {
            "TransactItems": [item for _, item in self._items],
            "ClientRequestToken": uuid.uuid4().hex,
        }
        try:
            try:
                if self._items:
                    db.bind().dispatch("TransactWriteItems", request)
            except BOTOCORE_EXCEPTIONS as exc:
                raise TransactWriteError("Failed to write transaction items", exc) from exc
        except TransactWriteError as exc:
            if db.is_retryable(exc):
                raise
            failed = {
                slot: reason
                for (slot, _), reason in zip(self._items, exc.cancellation_reasons, strict=False)
                if reason is not None and reason.code == CONDITION_FAILED
            }
            if not failed:
                raise
            return Failures(failed)
        for hook in self._after:
            try:
                hook()
            except Exception:  # committed: a follow-up's failure must not make it look otherwise
                log.warning("a hook after commit failed", exc_info=True)
        return Failures({})


# ---- reads ------------------------------------------------------------------------------------


@dataclass
class Reads:
    """What one batch read found, by model and hash key."""

    found: dict[Any, dict[str, Any]] = field(default_factory=dict)
    eventual: bool = False  # products in parts were read eventually consistently (`hot`)

    def of(self, model: type[M]) -> dict[str, M]:
        return self.found.get(model, {})

    @property
    def products(self) -> dict[str, Product]:
        return self.of(Product)

    @property
    def users(self) -> dict[str, User]:
        return self.of(User)

    @property
    def marker(self) -> IdempotencyMarker | None:
        return next(iter(self.of(IdempotencyMarker).values()), None)


MAX_BATCH_ATTEMPTS = 6
MAX_BATCH_KEYS = 100  # DynamoDB's limit of one BatchGetItem


def read_batch(
    skus: Iterable[str] = (),
    user_ids: Iterable[str] = (),
    marker_key: str | None = None,
    also: Iterable[tuple[Any, str]] = (),
    hot: bool = False,
) -> Reads:
    """Consistent BatchGetItems across tables: one for up to 100 keys (more only if DynamoDB
    leaves keys unprocessed, or a product has more stock parts than this process knew).

    Products come with their stock parts and read as their totals (`store.parts`).
    `also`: (model, hash key) of more items, e.g. the order this request is about to create.
    `hot`: a sale or a hold's first read; if a product is in parts (a flash sale), products and
    parts are read eventually consistently: every sale of the sku reads every part, and a
    consistent read costs twice the read units of a partition's 3,000 a second. Every write is
    conditional on what it changes, so a stale read costs a retry (consistent), never a wrong
    stock.
    """
    skus = set(skus)
    wanted: dict[Any, set[str]] = {
        Product: skus,
        StockPart: set(parts.guessed_keys(skus)),
        User: set(user_ids),
        IdempotencyMarker: {marker_key} if marker_key else set(),
    }
    for model, key in also:
        wanted.setdefault(model, set()).add(key)
    reads = Reads(eventual=hot and bool(wanted[StockPart]))
    eventual = {Product, StockPart} if reads.eventual else set()
    _read_keys(wanted, reads, eventual)
    missing = parts.missing_keys(reads.products.values(), set(reads.of(StockPart)))
    if missing:
        _read_keys({StockPart: set(missing)}, reads, eventual)
    for product in reads.products.values():
        parts.fold(product, reads.of(StockPart))
    return reads


def _read_keys(wanted: dict[Any, set[str]], reads: Reads, eventual: set[Any]) -> None:
    models = {model.Meta.table_name: model for model in wanted}
    keys = [
        (model.Meta.table_name, {model._hash_keyname: {"S": value}})
        for model, values in wanted.items()
        for value in sorted(values)
    ]
    loose = {model.Meta.table_name for model in eventual}
    for start in range(0, len(keys), MAX_BATCH_KEYS):
        _read(_request(keys[start : start + MAX_BATCH_KEYS], loose), models, reads)


def _request(keys: list[tuple[str, dict[str, Any]]], loose: set[str]) -> dict[str, Any]:
    request: dict[str, Any] = {}
    for table, key in keys:
        consistent = table not in loose
        request.setdefault(table, {"Keys": [], "ConsistentRead": consistent})["Keys"].append(key)
    return request


def _read(request: dict[str, Any], models: dict[str, Any], reads: Reads) -> None:
    for attempt in range(MAX_BATCH_ATTEMPTS):
        try:
            response = db.client().batch_get_item(RequestItems=request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in db.RETRYABLE_CODES:
                raise db.Contention() from exc  # with_retries backs off and reads again
            raise
        for table, items in response.get("Responses", {}).items():
            model = models[table]
            for raw in items:
                item = model.from_raw_data(raw)
                reads.found.setdefault(model, {})[getattr(item, model._hash_keyname)] = item
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return
        time.sleep(random.uniform(0, 0.02 * 2**attempt))
    raise db.Contention()
