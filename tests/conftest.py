"""Test environment: set before the app is imported (chalice applies config only per request)."""

import os

TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "JWT_KEYS": "unit-test-signing-key-that-is-long-enough-32b",
    # Fast hashing and reset answers in tests; production uses the defaults (settings.py).
    "ARGON2_MEMORY_KIB": "256",
    "ARGON2_TIME_COST": "1",
    "RESET_ANSWER_SECONDS": "0",
    "TABLE_PREFIX": "automart-test-",
    "ALERT_SENDER": "alerts@automart.example.com",
    # Fewer shards than production (settings.py: 64, 32 and 16): each shard is a Query, about
    # 4 ms in moto, on every check, ?stock= page and admin list. The rules hold for any count
    # above 1, and every list still merges several shards.
    "LOW_STOCK_SHARDS": "4",
    "LIST_SHARDS": "3",
    "HOLD_SHARDS": "2",
}
os.environ.update(TEST_ENV)
# Calls must stay inside moto's in-process mock: no endpoint may point elsewhere.
for name in (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "DYNAMODB_ENDPOINT",
    "SES_ENDPOINT",
    "SSM_ENDPOINT",
    "JWT_KEYS_PARAMETER",
    "AWS_PROFILE",
):
    os.environ.pop(name, None)
pytest_plugins = ["tests.botocore_recorder"]  # records AWS operations (infra least privilege)
