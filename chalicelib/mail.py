"""SES: one botocore client per container, created on first use (cold starts stay light)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from chalicelib.settings import get_settings

_lock = threading.Lock()
_client: Any = None


@dataclass(frozen=True)
class Email:
    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    html: str


def client() -> Any:
    """The shared SES client; SES_ENDPOINT points it at the local emulator."""
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                import botocore.session  # imported here: only the check sends mail

                settings = get_settings()
                _client = botocore.session.get_session().create_client(
                    "ses", region_name=settings.region, endpoint_url=settings.ses_endpoint
                )
    return _client


def forget_client() -> None:
    """For tests: the next `client()` builds a fresh one (with no event hooks left on it)."""
    global _client
    with _lock:
        _client = None


def send(email: Email) -> str:
    """Send one email; returns the SES message id. Raises whatever botocore raises."""
    utf8 = "UTF-8"
    reply = client().send_email(
        Source=email.sender,
        Destination={"ToAddresses": list(email.recipients)},
        Message={
            "Subject": {"Data": email.subject, "Charset": utf8},
            "Body": {
                "Text": {"Data": email.text, "Charset": utf8},
                "Html": {"Data": email.html, "Charset": utf8},
            },
        },
    )
    return str(reply["MessageId"])
