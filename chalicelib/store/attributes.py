"""Attribute types PynamoDB lacks: exact money."""

from __future__ import annotations

from decimal import Decimal

from pynamodb.attributes import Attribute
from pynamodb.constants import NUMBER


class MoneyAttribute(Attribute[Decimal]):
    """A DynamoDB number read back as `Decimal`, never as a binary float."""

    attr_type = NUMBER

    def serialize(self, value: Decimal) -> str:
        return str(value)

    def deserialize(self, value: str) -> Decimal:
        return Decimal(value)
