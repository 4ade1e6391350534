"""The low-stock email: one SES message per check for the notifications not yet emailed.

Each notification is claimed first (a conditional lease on `email_claimed_until`), so two checks
running at once never mail the same one. `email_pending` (the sparse `unemailed` index key) is
removed and `emailed_at` set only after SES accepted the message; if SES fails, the claims are
released and the next check sends them. A crash between SES accepting and the bookkeeping write
would resend after the lease: SES has no idempotency key, so exactly-once is not reachable.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable

from pynamodb.exceptions import UpdateError

from chalicelib import clock, mail, observability
from chalicelib.settings import get_settings
from chalicelib.store.models import Notification, Product, User
from chalicelib.store.transact import condition_failed
from chalicelib.vocabulary import Role

log = logging.getLogger("automart.alerts")

# Longer than the check's Lambda timeout (Chalice's default, 60 s): a live check never loses
# its claim, and a crashed one delays the email by at most this much.
CLAIM_SECONDS = 300
# Bounds one check's writes and the message size; the rest waits for the next check.
MAX_PER_EMAIL = 500


def claim(notification: Notification, until: float) -> bool:
    """Lease the notification for this check; refreshes it with the stored values."""
    free = Notification.email_claimed_until.does_not_exist() | (
        Notification.email_claimed_until < clock.now()
    )
    try:
        notification.update(
            [Notification.email_claimed_until.set(until)],
            condition=Notification.email_pending.exists()
            & Notification.handled_at.does_not_exist()
            & free,
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return False  # another check holds it, or it was emailed or handled meanwhile
        raise
    return True


def _update_if_claimed(notification: Notification, until: float, actions: list) -> bool:
    try:
        notification.update(actions, condition=Notification.email_claimed_until == until)
    except UpdateError as exc:
        if condition_failed(exc):
            log.warning("lost the email claim on notification %s", notification.id)
            return False
        raise
    return True


def mark_emailed(notification: Notification, until: float) -> bool:
    return _update_if_claimed(
        notification,
        until,
        [
            Notification.emailed_at.set(clock.iso()),
            Notification.email_pending.remove(),
            Notification.email_claimed_until.remove(),
        ],
    )


def release(notification: Notification, until: float) -> bool:
    return _update_if_claimed(notification, until, [Notification.email_claimed_until.remove()])


def unpend(notification: Notification) -> None:
    """A handled notification is never emailed: take it out of the `unemailed` index."""
    try:
        notification.update(
            [Notification.email_pending.remove()], condition=Notification.handled_at.exists()
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise


def recipients() -> tuple[str, ...]:
    configured = get_settings().alert_recipients
    if configured:
        return configured
    admins = User.by_role.query(Role.ADMIN, filter_condition=User.active == True)  # noqa: E712 (a condition)
    return tuple(sorted({admin.email for admin in admins}))


def _rows(
    notifications: Iterable[Notification], current: dict[str, Product]
) -> list[tuple[str, str, int, int, str]]:
    """(sku, name, stock, threshold, status): the units available as this check saw them
    when it has them (the stock, when none are held)."""
    rows = []
    for n in notifications:
        product = current.get(n.sku)
        stock, threshold = (
            (product.available, product.low_stock_threshold) if product else (n.stock, n.threshold)
        )
        rows.append((n.sku, n.product_name, int(stock), int(threshold), n.status))
    return sorted(rows)


def compose(
    notifications: list[Notification], current: dict[str, Product], to: tuple[str, ...]
) -> mail.Email:
    rows = _rows(notifications, current)
    count = len(rows)
    subject = f"Low stock: {count} product{'s' if count != 1 else ''} below threshold"
    text = "\n".join(
        ["AutoMart low-stock alert", "", "sku | name | available | threshold | status"]
        + [
            f"{sku} | {name} | {stock} | {threshold} | {status}"
            for sku, name, stock, threshold, status in rows
        ]
    )
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(value))}</td>" for value in row) + "</tr>"
        for row in rows
    )
    body = (
        "<html><body><h1>AutoMart low-stock alert</h1><table>"
        "<tr><th>sku</th><th>name</th><th>available</th><th>threshold</th><th>status</th></tr>"
        f"{cells}</table></body></html>"
    )
    return mail.Email(get_settings().alert_sender, to, subject, text + "\n", body)


def send_pending(current: dict[str, Product]) -> int:
    """Email every notification not yet emailed; returns how many the email listed."""
    to = recipients()
    if not to:
        log.warning("low-stock email skipped: no ALERT_RECIPIENTS and no active admin")
        return 0
    until = clock.now() + CLAIM_SECONDS
    claimed: list[Notification] = []
    for notification in Notification.unemailed.query("pending", limit=MAX_PER_EMAIL):
        if notification.handled_at is not None:
            unpend(notification)
        elif claim(notification, until):
            claimed.append(notification)
    if not claimed:
        return 0
    try:
        mail.send(compose(claimed, current, to))
    except Exception:  # any SES or network failure: keep them pending for the next check
        log.exception("low-stock email failed; %d notifications stay pending", len(claimed))
        for notification in claimed:
            release(notification, until)
        return 0
    observability.metric("EmailsSent")
    for notification in claimed:
        mark_emailed(notification, until)
    return len(claimed)
