"""SES_ENDPOINT: the alert email reaches the local emulator, where the CLI reads it back."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from chalicelib import mail
from chalicelib.settings import reset_settings
from infra.cli import read_local_emails


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
