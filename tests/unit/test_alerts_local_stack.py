"""The local stack's stand-ins for AWS: SES_ENDPOINT (the alert email reaches the local
emulator, where the CLI reads it back) and the loop that runs the scheduled functions every
CHECK_INTERVAL."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from chalicelib import mail
from chalicelib.inventory import holds
from chalicelib.inventory.idempotency import NO_KEY
from chalicelib.schemas.orders import HoldIn
from chalicelib.settings import reset_settings
from chalicelib.store.models import Hold, Product
from chalicelib.vocabulary import Caller, HoldStatus, Role
from infra.cli import read_local_emails
from infra.local_stack import Job, run_checks_every, scheduled_jobs
from tests.unit.helpers import make_user, raw_product

# Passes come back to back: the tests wait on events, never on the interval.
NO_PAUSE = 0.001
PASS_TIMEOUT = 10.0  # a safety net: a pass here takes milliseconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("SES_ENDPOINT", url)
    reset_settings()
    mail.forget_client()
    try:
        yield url
    finally:
        server.stop()
        monkeypatch.delenv("SES_ENDPOINT")
        reset_settings()
        mail.forget_client()


def test_mail_goes_to_the_configured_endpoint_and_reads_back(emulator: str) -> None:
    mail.client().verify_email_identity(EmailAddress="alerts@example.com")
    message_id = mail.send(
        mail.Email(
            "alerts@example.com",
            ("ops@example.com",),
            "Low stock: 1 product below threshold",
            "A-1 | Anvil | 0 | 5 | open\n",
            "<td>A-1</td>",
        )
    )
    [email] = [m for m in read_local_emails(emulator) if m.get("id") == message_id]
    assert email["subject"].startswith("Low stock")
    assert email["destinations"]["ToAddresses"] == ["ops@example.com"]
    assert "<td>A-1</td>" in email["body"]


def run_passes(jobs: tuple[Job, ...], done: threading.Event) -> None:
    """Run the local stack's loop until `done` is set, then stop it and wait for it."""
    stop = threading.Event()
    thread = run_checks_every(NO_PAUSE, stop, jobs)
    try:
        assert done.wait(PASS_TIMEOUT), "the loop never got there"
    finally:
        stop.set()
        thread.join(PASS_TIMEOUT)
    assert not thread.is_alive()


def test_the_loop_releases_expired_holds_as_the_schedule_does_in_aws(
    aws: None, frozen: Any
) -> None:
    """Given a hold past its expiry, when the loop of the scheduled jobs has made a pass, then the
    hold is released and its units are available again."""
    admin_id, _ = make_user("admin")
    raw_product("H-1", stock=5, threshold=0).save()
    body = HoldIn.model_validate({"items": [{"sku": "H-1", "quantity": 2}], "ttl_seconds": 5})
    hold = holds.create_hold(Caller(admin_id, Role.ADMIN), body, NO_KEY).item
    assert Product.get("H-1", consistent_read=True).available == 3
    frozen.time += 10
    passed = threading.Event()

    run_passes((*scheduled_jobs(), Job("pass done", passed.set)), passed)

    assert Hold.get(hold.id, consistent_read=True).status == HoldStatus.RELEASED
    product = Product.get("H-1", consistent_read=True)
    assert (int(product.held), product.available) == (0, 5)


def test_a_failing_job_neither_ends_the_pass_nor_the_loop() -> None:
    """Given a job that fails every time, then the jobs after it still run, pass after pass."""
    passes: list[int] = []
    second_pass = threading.Event()

    def fail() -> None:
        raise RuntimeError("the database is down")

    def count() -> None:
        passes.append(1)
        if len(passes) == 2:
            second_pass.set()

    run_passes((Job("failing", fail), Job("counting", count)), second_pass)
