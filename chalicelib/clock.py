"""Time and ids: ISO 8601 UTC ending in Z, ULIDs (sortable by time)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from ulid import ULID


def now() -> float:
    return time.time()


def iso(epoch: float | None = None) -> str:
    moment = datetime.fromtimestamp(now() if epoch is None else epoch, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return str(ULID())
