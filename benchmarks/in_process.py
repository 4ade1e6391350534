"""The environment of a benchmark that runs the app in this process, on moto's in-process mock:
fake credentials, its own table prefix, and no endpoint that would send calls past the mock."""

from __future__ import annotations

import os

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
