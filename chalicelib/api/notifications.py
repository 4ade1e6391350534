"""Routes: /notifications (admin only)."""

from __future__ import annotations

from chalicelib.alerts import notifications
from chalicelib.alerts.check import run_check
from chalicelib.api.pagination import decode_cursor, page_out
from chalicelib.api.routing import ADMIN, Call, Resource
from chalicelib.schemas import Page
from chalicelib.schemas.alerts import CheckSummaryOut, NotificationOut, NotificationQuery
from chalicelib.store.models import Notification

api = Resource("notifications")


def notification_out(n: Notification) -> NotificationOut:
    return NotificationOut(
        id=n.id,
        sku=n.sku,
        product_name=n.product_name,
        message=n.message,
        stock=int(n.stock),
        threshold=int(n.threshold),
        status=n.status,
        created_at=n.created_at,
        resolved_at=n.resolved_at,
        emailed_at=n.emailed_at,
    )


@api.route(
    "/notifications",
    "GET",
    roles=ADMIN,
    query=NotificationQuery,
    response=Page[NotificationOut],
    summary="Low-stock notifications, newest first",
)
def list_notifications(call: Call) -> dict:
    page = notifications.list_notifications(
        call.query.status, call.query.limit, decode_cursor(call.query.cursor)
    )
    return page_out(page, notification_out)


@api.route(
    "/notifications/check",
    "POST",
    roles=ADMIN,
    response=CheckSummaryOut,
    summary="Run the low-stock check now",
)
def check_now(call: Call) -> CheckSummaryOut:
    return CheckSummaryOut(**run_check())


@api.route(
    "/notifications/{id}",
    "GET",
    roles=ADMIN,
    response=NotificationOut,
    errors=(404,),
    summary="One notification (404 once handled)",
)
def get_notification(call: Call) -> NotificationOut:
    return notification_out(notifications.get_notification(call.params["id"]))


@api.route(
    "/notifications/{id}",
    "DELETE",
    roles=ADMIN,
    status=204,
    errors=(404,),
    summary="Mark handled: no new notification until the next episode",
)
def handle_notification(call: Call) -> None:
    notifications.handle(call.params["id"])
