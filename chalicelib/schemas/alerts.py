"""Request and response models of /notifications."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictStr

from chalicelib.schemas import PageQuery, Response, Timestamp, one_of
from chalicelib.vocabulary import NotificationStatus

Status = Annotated[
    StrictStr, one_of(NotificationStatus), Field(examples=[NotificationStatus.OPEN.value])
]


class NotificationQuery(PageQuery):
    status: Status | None = None


class NotificationOut(Response):
    id: str
    sku: str
    product_name: str
    message: str
    stock: int = Field(
        description="the units available (stock - held) when the episode opened: what the "
        "threshold is compared with"
    )
    threshold: int
    status: Status
    created_at: Timestamp
    resolved_at: Timestamp | None
    emailed_at: Timestamp | None


class CheckSummaryOut(Response):
    low_stock: int = Field(ge=0, description="Products below their threshold")
    created: int = Field(ge=0, description="Notifications this check created")
    emailed: int = Field(ge=0, description="Notifications this check emailed")
