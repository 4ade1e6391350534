"""Notifications as the API shows them: lists by status, one by id, and handling (DELETE)."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib import clock
from chalicelib.errors import NotFound
from chalicelib.store.models import Notification
from chalicelib.store.pages import Page, newest_first
from chalicelib.store.transact import condition_failed
from chalicelib.vocabulary import NotificationStatus


def list_notifications(status: str | None, limit: int, after: str | None) -> Page[Notification]:
    """Newest first; handled notifications have no `visible_status`, so no index lists them."""
    statuses = [status] if status else list(NotificationStatus)
    return newest_first(
        [(Notification.by_status, s) for s in statuses], Notification.id, limit, after
    )


def get_notification(notification_id: str) -> Notification:
    try:
        notification = Notification.get(notification_id, consistent_read=True)
    except DoesNotExist:
        notification = None
    if notification is None or notification.handled_at is not None:
        raise NotFound("No notification has this id")
    return notification


def handle(notification_id: str) -> None:
    """Mark handled: hidden from the API. The episode stays open, so no new notification for
    the product until it recovers and runs low again."""
    try:
        Notification(id=notification_id).update(
            [Notification.handled_at.set(clock.iso()), Notification.visible_status.remove()],
            condition=Notification.id.exists() & Notification.handled_at.does_not_exist(),
        )
    except UpdateError as exc:
        if condition_failed(exc):
            raise NotFound("No notification has this id") from None
        raise
