"""The names the API, the domain and the store share, each set spelled once.

StrEnum members are plain strings, so they are stored, compared and rendered as the words the
contract uses ("admin", "sale", "open").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    CUSTOMER = "customer"


class MovementKind(StrEnum):
    INITIAL = "initial"
    ADJUSTMENT = "adjustment"
    SALE = "sale"
    SALE_CANCELLED = "sale_cancelled"
    PURCHASE = "purchase"
    PURCHASE_REVERSED = "purchase_reversed"
    RETURN_RESTOCKED = "return_restocked"
    RETURN_WRITTEN_OFF = "return_written_off"


class AdjustmentReason(StrEnum):
    COUNT = "count"
    DAMAGED = "damaged"
    LOST = "lost"
    FOUND = "found"
    CORRECTION = "correction"
    OTHER = "other"


# The reason every return's movements carry.
RETURN_REASON = "return"


class OrderStatus(StrEnum):
    PLACED = "placed"
    PARTIALLY_RETURNED = "partially_returned"
    RETURNED = "returned"


class HoldStatus(StrEnum):
    ACTIVE = "active"
    CONVERTED = "converted"  # an order was made from it
    RELEASED = "released"  # by DELETE, or by the sweep after it expired
    EXPIRED = "expired"  # read only: active and past expires_at, its units not yet released


class CatalogSort(StrEnum):
    SKU = "sku"
    NAME = "name"


class StockFilter(StrEnum):
    LOW = "low"  # available below the threshold
    OUT = "out"  # nothing available


class NotificationStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the user id and role the access token carries."""

    id: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN
