"""Pytest plugin: record every AWS operation the code makes during the test run.

Every botocore session created in this process (PynamoDB's, the SES and SSM clients, moto's) gets
a `before-parameter-build.*.*` handler through botocore's built-in handler list. Each call is
recorded as the IAM actions it needs, on which resource, made by which Lambda function:

- the function is found on the call stack: chalice's `Chalice.__call__` is `api_handler`, a
  `ChaliceAuthorizer.__call__` is that authorizer, an `EventSourceHandler.__call__` is the
  scheduled function. Calls made by tests outside any of them (domain tests, setup) are `None`.
- DynamoDB transactions are expanded the way IAM authorizes them (per item: PutItem, UpdateItem,
  DeleteItem, ConditionCheckItem, GetItem), queries on an index name the index, and
  `ssm:GetParameter` with decryption implies `kms:Decrypt`.

At session end the set is written to build/recorded-operations.json. Tests marked `run_last`
(tests/infra/test_operations.py compares the recording with the IAM policies) run after all
others, so the comparison sees the whole session.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import botocore.handlers
import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "build" / "recorded-operations.json"


# (function, action, resource): action like "dynamodb:PutItem", resource like "table/products",
# "table/products/index/low_stock", "parameter", "identity".
RECORDED: set[tuple[str | None, str, str]] = set()
_lock = threading.Lock()

_TRANSACT_WRITE = {
    "ConditionCheck": "ConditionCheckItem",
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
}


def _table(name: str) -> str:
    """ "automart-test-users" -> "table/users" (the model's logical name)."""
    from chalicelib.store.models import MODELS

    logical = [m.logical_name for m in MODELS if name.endswith("-" + m.logical_name)]
    return "table/" + (max(logical, key=len) if logical else name)


def _function_on_stack() -> str | None:
    from chalice import app as chalice_app

    frame = sys._getframe(2)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if frame.f_code.co_name == "__call__" and owner is not None:
            if isinstance(owner, chalice_app.ChaliceAuthorizer):
                return owner.name
            if isinstance(owner, chalice_app.EventSourceHandler):
                return owner.func.__name__
            if isinstance(owner, chalice_app.Chalice):
                return "api_handler"
        frame = frame.f_back
    return None


def actions_of(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The IAM (action, resource) pairs one API call needs."""
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            out = []
            for item in params.get("TransactItems", []):
                for kind, body in item.items():
                    out.append((f"dynamodb:{_TRANSACT_WRITE[kind]}", _table(body["TableName"])))
            return out
        if operation == "TransactGetItems":
            return [
                ("dynamodb:GetItem", _table(item["Get"]["TableName"]))
                for item in params.get("TransactItems", [])
            ]
        if operation in ("BatchWriteItem", "BatchGetItem"):
            return [
                (f"dynamodb:{operation}", _table(name)) for name in params.get("RequestItems", {})
            ]
        if "TableName" in params:
            resource = _table(params["TableName"])
            if params.get("IndexName"):
                resource += "/index/" + params["IndexName"]
            return [(f"dynamodb:{operation}", resource)]
        return [(f"dynamodb:{operation}", "*")]
    if service == "ssm" and operation == "GetParameter":
        out = [("ssm:GetParameter", "parameter")]
        if params.get("WithDecryption"):
            out.append(("kms:Decrypt", "ssm-parameter-key"))
        return out
    if service in ("ses", "sesv2") and operation in ("SendEmail", "SendRawEmail"):
        return [(f"ses:{operation}", "identity")]
    return [(f"{service}:{operation}", "*")]


def _record(params: dict[str, Any], model: Any, **_: Any) -> None:
    service = model.service_model.endpoint_prefix
    if service == "email":
        service = "ses"
    function = _function_on_stack()
    with _lock:
        for action, resource in actions_of(service, model.name, params):
            if not _foreign(resource):
                RECORDED.add((function, action, resource))


def _foreign(resource: str) -> bool:
    """A table of no model: a test's own (the DynamoDB limits proxy's tests), not the app's."""
    from chalicelib.store.models import MODELS

    if not resource.startswith("table/"):
        return False
    table = resource.removeprefix("table/").split("/", 1)[0]
    return table not in {model.logical_name for model in MODELS}


_HANDLER = ("before-parameter-build.*.*", _record)
if _HANDLER not in botocore.handlers.BUILTIN_HANDLERS:
    botocore.handlers.BUILTIN_HANDLERS.append(_HANDLER)


def recorded() -> set[tuple[str | None, str, str]]:
    with _lock:
        return set(RECORDED)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "run_last: run after every other test of the session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("run_last") is not None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(recorded(), key=lambda row: (row[0] or "", row[1], row[2]))
    OUTPUT.write_text(
        json.dumps([{"function": f, "action": a, "resource": r} for f, a, r in rows], indent=1)
        + "\n"
    )
