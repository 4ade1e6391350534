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


def first_id_at(epoch: float) -> str:
    """The smallest id of that moment (in whole milliseconds: a date's midnight): every id made
    at or after it sorts at or after this one (a ULID is its millisecond timestamp, then 80
    random bits: here all zero). Rounded, so that float noise (x.123 * 1000 = x122.999...) does
    not move it a millisecond back."""
    from ulid import ULID

    milliseconds = max(0, round(epoch * 1000))
    return str(ULID.from_bytes(milliseconds.to_bytes(6, "big") + bytes(10)))
