"""Low-stock episodes, the check and its email, through the domain's public functions."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from chalicelib import clock, mail
from chalicelib.alerts import digest, episodes, notifications
from chalicelib.alerts.check import run_check
from chalicelib.auth import users
from chalicelib.inventory import products
from chalicelib.settings import reset_settings
from chalicelib.store.models import AlertState, Notification, Product
from tests.conftest import TEST_ENV
from tests.unit.helpers import make_user, raw_product, run_together, sent

SENDER = TEST_ENV["ALERT_SENDER"]


def add(sku: str, stock: int, threshold: int = 5) -> Product:
    return products.create_product(
        None, sku, f"Name of {sku}", "", Decimal("1.00"), stock, threshold
    )


def adjust(sku: str, stock: int) -> Product:
    return products.update_product("tester", sku, {"stock": stock})


def raw_stock(sku: str, stock: int) -> None:
    """Change stock without the episode bookkeeping (a write that failed half-way)."""
    product = Product.get(sku, consistent_read=True)
    product.update(
        [Product.stock.set(stock), Product.headroom.set(stock - product.low_stock_threshold)]
    )


def of_sku(sku: str) -> list[Notification]:
    return sorted(
        (n for n in Notification.scan(consistent_read=True) if n.sku == sku), key=lambda n: n.id
    )


def pending_ids() -> set[str]:
    return {n.id for n in Notification.unemailed.query("pending")}


# ---- episodes and the check ------------------------------------------------------------------


def test_stock_equal_to_threshold_is_not_low(admin: str) -> None:
    add("EDGE", stock=5, threshold=5)
    assert run_check() == {"low_stock": 0, "created": 0, "emailed": 0}
    assert of_sku("EDGE") == []
    adjust("EDGE", 4)  # the adjustment opens the episode itself
    [notification] = of_sku("EDGE")
    assert (notification.stock, notification.threshold, notification.status) == (4, 5, "open")
    assert run_check() == {"low_stock": 1, "created": 0, "emailed": 1}
    assert len(of_sku("EDGE")) == 1


def test_threshold_zero_is_never_low(admin: str) -> None:
    add("ZERO", stock=0, threshold=0)
    assert run_check()["low_stock"] == 0 and of_sku("ZERO") == []


def test_check_opens_a_missing_episode_once_however_often_it_runs(admin: str) -> None:
    raw_product("BULK", stock=1).save()
    assert run_check() == {"low_stock": 1, "created": 1, "emailed": 1}
    assert run_check() == {"low_stock": 1, "created": 0, "emailed": 0}
    [notification] = of_sku("BULK")
    assert AlertState.get("BULK").notification_id == notification.id


def test_concurrent_checks_create_one_notification_per_product(
    admin: str, atomic_moto: None
) -> None:
    skus = [f"RACE-{i}" for i in range(8)]
    with Product.batch_write() as batch:
        for sku in skus:
            batch.save(raw_product(sku, stock=0))
    results = run_together(*[run_check] * 4)
    assert sum(r["created"] for r in results) == len(skus)
    assert sum(r["emailed"] for r in results) == len(skus)
    for sku in skus:
        assert len(of_sku(sku)) == 1
    assert Counter(sku for m in sent() for sku in skus if f"<td>{sku}</td>" in m.body) == {
        sku: 1 for sku in skus
    }


def test_check_racing_adjustments_gives_one_notification_per_episode(
    admin: str, atomic_moto: None
) -> None:
    skus = [f"ADJ-{i}" for i in range(4)]
    for sku in skus:
        add(sku, stock=10)
    rounds = 4

    def see_saw() -> None:  # each round is one episode per product: low, then recovered
        for _ in range(rounds):
            for sku in skus:
                adjust(sku, 1)
            for sku in skus:
                adjust(sku, 10)

    def keep_checking() -> None:
        for _ in range(6):
            run_check()

    run_together(see_saw, keep_checking, keep_checking)
    run_check()  # a last sweep resolves whatever a lost race left open
    for sku in skus:
        found = of_sku(sku)
        assert len(found) == rounds, [(n.id, n.status) for n in found]
        assert {n.status for n in found} == {"resolved"}
    assert list(AlertState.scan()) == []


def test_adjustment_back_to_threshold_resolves(admin: str) -> None:
    add("UP", stock=2)
    adjust("UP", 5)
    [notification] = of_sku("UP")
    assert notification.status == "resolved" and notification.resolved_at
    assert notification.visible_status == "resolved"
    with pytest.raises(AlertState.DoesNotExist):
        AlertState.get("UP")


def test_check_resolves_an_episode_its_write_did_not_close(admin: str) -> None:
    add("HEAL", stock=1)
    raw_stock("HEAL", 9)
    run_check()
    [notification] = of_sku("HEAL")
    assert notification.status == "resolved"


def test_check_resolves_the_episode_of_a_product_that_is_gone(admin: str) -> None:
    add("GONE", stock=1)
    Product(sku="GONE").delete()  # deleted without the episode bookkeeping
    assert run_check()["low_stock"] == 0
    assert of_sku("GONE")[0].status == "resolved"


def test_check_does_not_resolve_while_still_low(admin: str) -> None:
    add("STILL", stock=1)
    adjust("STILL", 2)  # lower further or higher but still low: the same episode
    adjust("STILL", 4)
    run_check()
    [notification] = of_sku("STILL")
    assert notification.status == "open"


def test_handled_episode_gets_no_new_notification_until_the_next_one(admin: str) -> None:
    add("HANDLED", stock=1)
    [first] = of_sku("HANDLED")
    notifications.handle(first.id)
    adjust("HANDLED", 0)
    assert run_check()["created"] == 0
    assert len(of_sku("HANDLED")) == 1
    adjust("HANDLED", 20)  # recovery ends the episode...
    first.refresh(consistent_read=True)
    assert first.status == "resolved" and first.visible_status is None  # ...still hidden
    adjust("HANDLED", 3)  # ...and the next one gets its own notification
    second = of_sku("HANDLED")[-1]
    assert second.id != first.id and second.status == "open"


def test_close_episode_after_handling_keeps_it_hidden(admin: str) -> None:
    add("H2", stock=1)
    [notification] = of_sku("H2")
    notifications.handle(notification.id)
    raw_stock("H2", 50)
    assert episodes.close_episode("H2")
    notification.refresh(consistent_read=True)
    assert (notification.status, notification.visible_status) == ("resolved", None)


# ---- the email -------------------------------------------------------------------------------


def test_one_email_per_check_lists_the_new_notifications(ses: None) -> None:
    _, first_admin = make_user("admin")
    off_id, _ = make_user("admin")
    users.update_user(off_id, None, None, False)
    make_user("staff")
    add("A-1", stock=2)
    add("B-2", stock=0, threshold=3)
    add("OK-3", stock=9)
    assert run_check() == {"low_stock": 2, "created": 0, "emailed": 2}
    [message] = sent()
    assert message.source == SENDER
    assert message.destinations["ToAddresses"] == [first_admin]  # active admins only
    assert "Low stock" in message.subject
    for cells in (("A-1", "Name of A-1", "2", "5"), ("B-2", "Name of B-2", "0", "3")):
        assert "".join(f"<td>{c}</td>" for c in cells) in message.body
    assert "OK-3" not in message.body
    for notification in of_sku("A-1") + of_sku("B-2"):
        assert notification.emailed_at and notification.email_pending is None
        assert notification.email_claimed_until is None
    assert pending_ids() == set()
    assert run_check()["emailed"] == 0 and len(sent()) == 1
    add("C-4", stock=1)  # a later episode goes out in the next check's email
    assert run_check()["emailed"] == 1
    assert len(sent()) == 2 and "C-4" in sent()[1].body and "A-1" not in sent()[1].body


def test_text_body_lists_sku_name_stock_and_threshold(ses: None) -> None:
    add("TXT", stock=1, threshold=7)
    [notification] = of_sku("TXT")
    email = digest.compose([notification], {}, ("ops@example.com",))
    assert "Low stock" in email.subject
    assert "TXT | Name of TXT | 1 | 7 | open" in email.text
    # The check passes the products it just read: the email shows their current stock.
    current = Product.get("TXT")
    current.stock, current.headroom = 0, -7  # as a sale of its last unit leaves it
    assert (
        "TXT | Name of TXT | 0 | 7 | open"
        in digest.compose([notification], {"TXT": current}, ("ops@example.com",)).text
    )


def test_configured_recipients_replace_the_admins(ses: None, monkeypatch: Any) -> None:
    make_user("admin")
    monkeypatch.setenv("ALERT_RECIPIENTS", "ops@example.com, buyer@example.com")
    reset_settings()
    try:
        add("R-1", stock=0)
        run_check()
    finally:
        monkeypatch.delenv("ALERT_RECIPIENTS")
        reset_settings()
    assert sent()[0].destinations["ToAddresses"] == ["ops@example.com", "buyer@example.com"]


def test_without_recipients_nothing_is_claimed_or_lost(ses: None) -> None:
    add("NOBODY", stock=0)
    assert run_check()["emailed"] == 0 and sent() == []
    assert pending_ids() == {of_sku("NOBODY")[0].id}
    make_user("admin")
    assert run_check()["emailed"] == 1 and len(sent()) == 1


def test_ses_failure_keeps_everything_for_the_next_check(admin: str) -> None:
    add("F-1", stock=1)
    add("F-2", stock=0)
    attempts = []

    def refuse(**kwargs: Any) -> None:
        attempts.append(kwargs["model"].name)
        raise EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com")

    events = mail.client().meta.events
    events.register("before-call.ses.SendEmail", refuse)
    assert run_check()["emailed"] == 0
    assert attempts == ["SendEmail"] and sent() == []
    for notification in of_sku("F-1") + of_sku("F-2"):
        assert notification.emailed_at is None and notification.email_claimed_until is None
    assert len(pending_ids()) == 2

    events.unregister("before-call.ses.SendEmail", refuse)
    assert run_check()["emailed"] == 2
    assert run_check()["emailed"] == 0
    [message] = sent()
    assert "F-1" in message.body and "F-2" in message.body
    assert all(n.emailed_at for n in of_sku("F-1") + of_sku("F-2"))


def test_a_notification_claimed_by_another_check_is_left_to_it(admin: str) -> None:
    add("CLAIMED", stock=0)
    [notification] = of_sku("CLAIMED")
    their_lease = clock.now() + digest.CLAIM_SECONDS
    assert digest.claim(notification, their_lease)
    assert not digest.claim(notification, their_lease + 1)  # a second claimer is refused
    assert run_check()["emailed"] == 0 and sent() == []
    # The other check died: once its lease has passed, the next check sends it.
    notification.update([Notification.email_claimed_until.set(clock.now() - 1)])
    assert run_check()["emailed"] == 1 and len(sent()) == 1
    notification.refresh(consistent_read=True)
    assert notification.emailed_at and notification.email_pending is None
    assert not digest.mark_emailed(notification, their_lease)  # the dead claimer cannot


def test_concurrent_checks_email_each_notification_once(admin: str, atomic_moto: None) -> None:
    for i in range(12):
        add(f"MAIL-{i}", stock=0)

    results = run_together(*[lambda: digest.send_pending({})] * 4)
    assert sum(results) == 12
    counts = Counter(
        f"MAIL-{i}" for m in sent() for i in range(12) if f"<td>MAIL-{i}</td>" in m.body
    )
    assert counts == {f"MAIL-{i}": 1 for i in range(12)}
    assert len(sent()) == sum(1 for r in results if r)  # one email per check that sent any


def test_handled_notifications_are_not_emailed_and_leave_the_queue(admin: str) -> None:
    add("SEEN", stock=0)
    add("UNSEEN", stock=0)
    [seen] = of_sku("SEEN")
    notifications.handle(seen.id)
    assert run_check()["emailed"] == 1
    [message] = sent()
    assert "UNSEEN" in message.body and "<td>SEEN</td>" not in message.body
    seen.refresh(consistent_read=True)
    assert seen.emailed_at is None and seen.email_pending is None
    assert pending_ids() == set()


def test_a_resolved_notification_not_yet_emailed_is_still_reported(admin: str) -> None:
    add("BLIP", stock=0)
    adjust("BLIP", 10)
    assert run_check()["emailed"] == 1
    assert "<td>BLIP</td>" in sent()[0].body and "<td>resolved</td>" in sent()[0].body
