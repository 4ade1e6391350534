"""Time and ids: ISO 8601 UTC ending in Z, ULIDs (sortable by time)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    return time.time()


def iso(epoch: float | None = None) -> str:
    moment = datetime.fromtimestamp(now() if epoch is None else epoch, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    # Imported on first use: python-ulid reads its own package metadata at import (~15 ms with a
    # full site-packages), which cold starts that only read should not pay.
    from ulid import ULID

    return str(ULID())
