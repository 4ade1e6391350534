"""Typed settings from the environment, read lazily.

`chalice.test.Client` and `chalice local` apply `.chalice/config.json` only while a request runs,
so nothing here is read at import time: `get_settings()` builds the object on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def split_list(text: str) -> tuple[str, ...]:
    """A comma-separated setting (also read by infra/template.py from a stage's config)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _list(name: str) -> tuple[str, ...]:
    return split_list(os.environ.get(name, ""))


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    table_prefix: str
    dynamodb_endpoint: str | None
    ses_endpoint: str | None
    ssm_endpoint: str | None
    jwt_keys: str | None  # JSON {"current": kid, "keys": {kid: secret}} or a bare secret (local)
    jwt_keys_parameter: str | None  # SSM SecureString holding the same JSON (AWS)
    jwt_issuer: str
    jwt_audience: str
    access_token_ttl: int
    refresh_token_ttl: int
    argon2_memory_kib: int
    argon2_time_cost: int
    login_max_failures: int
    login_window_seconds: int
    alert_sender: str
    alert_recipients: tuple[str, ...]
    low_stock_shards: int
    hold_shards: int
    list_shards: int
    cors_origins: tuple[str, ...]
    password_reset_url: str | None
    reset_code_ttl: int
    reset_emails_per_hour: int
    reset_max_attempts: int
    reset_answer_seconds: float

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            stage=os.environ.get("STAGE", "local"),
            region=os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            table_prefix=os.environ.get("TABLE_PREFIX", "automart-local-"),
            dynamodb_endpoint=os.environ.get("DYNAMODB_ENDPOINT") or None,
            ses_endpoint=os.environ.get("SES_ENDPOINT") or None,
            ssm_endpoint=os.environ.get("SSM_ENDPOINT") or None,
            jwt_keys=os.environ.get("JWT_KEYS") or None,
            jwt_keys_parameter=os.environ.get("JWT_KEYS_PARAMETER") or None,
            jwt_issuer=os.environ.get("JWT_ISSUER", "automart"),
            jwt_audience=os.environ.get("JWT_AUDIENCE", "automart-api"),
            access_token_ttl=_int("ACCESS_TOKEN_TTL", 15 * 60),
            refresh_token_ttl=_int("REFRESH_TOKEN_TTL", 7 * 24 * 3600),
            # OWASP's password storage cheat sheet: argon2id, 19 MiB, 2 passes, 1 lane.
            argon2_memory_kib=_int("ARGON2_MEMORY_KIB", 19 * 1024),
            argon2_time_cost=_int("ARGON2_TIME_COST", 2),
            login_max_failures=_int("LOGIN_MAX_FAILURES", 5),
            login_window_seconds=_int("LOGIN_WINDOW_SECONDS", 15 * 60),
            alert_sender=os.environ.get("ALERT_SENDER", "alerts@automart.example.com"),
            alert_recipients=_list("ALERT_RECIPIENTS"),
            # Every stock change moves its product's entry in the `low_stock` index (a delete and
            # a put): 64 partitions take 32,000 stock changes a second. May grow, never shrink:
            # a product keeps the shard it was written with.
            low_stock_shards=_int("LOW_STOCK_SHARDS", 64),
            # Holds spread their list and expiry index entries over this many partitions. It may
            # grow, never shrink: holds in a shard beyond it would be neither listed nor swept.
            hold_shards=_int("HOLD_SHARDS", 16),
            # The admin's lists of every order and every purchase spread over this many index
            # partitions (1,000 entries a second each). Grow, never shrink, as above.
            list_shards=_int("LIST_SHARDS", 32),
            cors_origins=_list("CORS_ORIGINS"),
            password_reset_url=os.environ.get("PASSWORD_RESET_URL") or None,
            reset_code_ttl=_int("RESET_CODE_TTL", 30 * 60),
            reset_emails_per_hour=_int("RESET_EMAILS_PER_HOUR", 3),
            # 5 wrong codes burn a code: each attempt is counted, and a right one ends the code.
            reset_max_attempts=_int("RESET_MAX_ATTEMPTS", 5),
            # Every reset request answers after at least this long, whether it sent an email
            # or not, so that timing does not tell who has an account.
            reset_answer_seconds=float(os.environ.get("RESET_ANSWER_SECONDS", "0.3")),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


def reset_settings() -> None:
    """For tests that change the environment."""
    get_settings.cache_clear()
