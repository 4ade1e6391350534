"""What the benchmarks that run the app in this process share: their environment (fake
credentials, their own table prefix, no endpoint that would send calls past moto's in-process
mock unless they set one) and the Meter of what DynamoDB returned."""

from __future__ import annotations

import os
from typing import Any

ESCAPING = (
    "AWS_ENDPOINT_URL",
    "DYNAMODB_ENDPOINT",
    "SES_ENDPOINT",
    "SSM_ENDPOINT",
    "JWT_KEYS_PARAMETER",
    "AWS_PROFILE",
)


def use_moto(table_prefix: str, *unset: str, **settings: str) -> None:
    """Set the environment before the app is imported; `unset` names more variables to drop
    (for example the test suite's fast hashing, to measure production settings)."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "TABLE_PREFIX": table_prefix,
            "ALERT_SENDER": "alerts@example.com",
            **settings,
        }
    )
    for name in (*ESCAPING, *unset):
        os.environ.pop(name, None)


class Meter:
    """Items DynamoDB returned (Query/Scan ScannedCount, GetItem hits) to the shared client."""

    def __init__(self, client: Any) -> None:
        self.events = client.meta.events
        self.items = 0
        self.requests = 0

    def after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests += 1
        if model.name in ("Query", "Scan"):
            self.items += parsed.get("ScannedCount", parsed.get("Count", 0))
        elif model.name == "GetItem" and parsed.get("Item"):
            self.items += 1

    def __enter__(self) -> Meter:
        self.events.register("after-call.dynamodb", self.after)
        return self

    def __exit__(self, *exc: object) -> None:
        self.events.unregister("after-call.dynamodb", self.after)
