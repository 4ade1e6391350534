"""Password reset by an emailed code (API.md, Accounts).

- A request answers the same for every address: an unknown or deactivated one gets the same
  write as a real one (its hourly count), only no code and no email. Requests and confirmations
  last at least `reset_answer_seconds`, so neither the SES call nor the reads can be timed.
- A code is 12 characters of 0-9 A-Z (62 bits), stored only as a hash bound to its user, valid
  `reset_code_ttl` seconds and once; a newer request replaces it. Each attempt at a code is
  counted before it is compared, so concurrent guesses cannot exceed `reset_max_attempts`.
- At most `reset_emails_per_hour` emails per address (`users.address_key`: every spelling of an
  account's address is one) in an hour that opens at the first one.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import html
import logging
import secrets
import string
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from chalicelib import clock, mail, observability
from chalicelib.auth.users import (
    Tokens,
    address_key,
    issue_tokens,
    new_password_actions,
    user_at,
)
from chalicelib.errors import InvalidResetCode
from chalicelib.settings import get_settings
from chalicelib.store import db
from chalicelib.store.models import PasswordReset, User
from chalicelib.store.transact import UnitOfWork, condition_failed

log = logging.getLogger("automart")

CODE_ALPHABET = string.digits + string.ascii_uppercase
CODE_LENGTH = 12
HOUR = 3600


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _code_hash(user_id: str, code: str) -> str:
    return hashlib.sha256(f"{user_id}:{code.strip().upper()}".encode()).hexdigest()


def _read(key: str) -> PasswordReset | None:
    try:
        return PasswordReset.get(key, consistent_read=True)
    except DoesNotExist:
        return None


@contextlib.contextmanager
def _answer_floor() -> Iterator[None]:
    """Whatever happens inside, the answer leaves no earlier than the floor."""
    floor = time.monotonic() + get_settings().reset_answer_seconds
    try:
        yield
    finally:
        time.sleep(max(0.0, floor - time.monotonic()))


def request_reset(email: str) -> None:
    """POST /auth/password-reset: a code for an active user; the same work for anyone else."""
    with _answer_floor():
        key = address_key(email)
        user = user_at(key)
        db.with_retries(lambda: _new_code_for(key, user if user and user.active else None))


def send_reset(user: User) -> None:
    """POST /users/{id}/password-reset: as a request for the user's email; nothing if inactive."""
    if user.active:
        db.with_retries(lambda: _new_code_for(address_key(user.email), user))


def _new_code_for(key: str, user: User | None) -> None:
    settings = get_settings()
    now = int(clock.now())
    record = _read(key)
    in_window = record is not None and record.window_since > now - HOUR
    sent = record.emails_sent if record is not None and in_window else 0
    if sent >= settings.reset_emails_per_hour:
        observability.metric("PasswordResetEmails", outcome="limited")
        return
    code = new_code()
    code_hash = _code_hash(user.id if user else "", code)
    actions: list[Action] = [
        PasswordReset.emails_sent.set(sent + 1),
        PasswordReset.window_since.set(record.window_since if record and in_window else now),
        PasswordReset.code_expires.set(now + settings.reset_code_ttl),
        PasswordReset.attempts.set(0),
        PasswordReset.expires_at.set(
            datetime.fromtimestamp(now + max(HOUR, settings.reset_code_ttl), tz=UTC)
        ),
        PasswordReset.user_id.set(user.id) if user else PasswordReset.user_id.remove(),
        PasswordReset.code_hash.set(code_hash) if user else PasswordReset.code_hash.remove(),
    ]
    # Optimistic: of concurrent requests each counts once, so the hourly limit is exact.
    condition = (
        PasswordReset.email.does_not_exist()
        if record is None
        else (PasswordReset.emails_sent == record.emails_sent)
        & (PasswordReset.window_since == record.window_since)
    )
    try:
        PasswordReset(email=key).update(actions, condition=condition)
    except UpdateError as exc:
        if condition_failed(exc):
            raise db.Contention() from exc
        raise
    if user is None:
        return
    try:
        mail.send(reset_email(user.email, code))
        observability.metric("PasswordResetEmails", outcome="sent")
    except Exception as exc:  # noqa: BLE001 - answered 202 anyway: a 5xx would tell who exists
        # The error's type only: SES's message may name the recipient.
        log.error("password reset email to user %s not sent: %s", user.id, type(exc).__name__)
        observability.metric("PasswordResetEmails", outcome="failed")


def reset_email(to: str, code: str) -> mail.Email:
    settings = get_settings()
    minutes = settings.reset_code_ttl // 60
    link = None
    if settings.password_reset_url:
        query = urllib.parse.urlencode({"email": to, "code": code})
        link = f"{settings.password_reset_url}?{query}"
    lines = [
        "Someone asked to reset the password of your AutoMart account.",
        "",
        f"Code: {code}",
        "",
        f"The code works once, within {minutes} minutes.",
    ]
    if link:
        lines += ["", f"Or open: {link}"]
    lines += ["", "If it was not you, ignore this email: your password stays as it is."]
    # The code stands on a line of its own in both parts: SES viewers that show only the HTML
    # (the emulator keeps only it) still show the line "Code: <code>".
    link_html = f'<p><a href="{html.escape(link)}">Choose a new password</a></p>\n' if link else ""
    body_html = (
        "<p>Someone asked to reset the password of your AutoMart account.</p>\n"
        f"<p>\nCode: {html.escape(code)}\n</p>\n"
        f"<p>The code works once, within {minutes} minutes.</p>\n{link_html}"
        "<p>If it was not you, ignore this email: your password stays as it is.</p>\n"
    )
    return mail.Email(
        sender=settings.alert_sender,
        recipients=(to,),
        subject="AutoMart: Password reset",
        text="\n".join(lines) + "\n",
        html=body_html,
    )


def confirm_reset(email: str, code: str, new_password: str) -> Tokens:
    """POST /auth/password-reset/confirm: every refusal is the same 400 invalid_reset_code."""
    with _answer_floor():
        return _confirm(email, code, new_password)


def _confirm(email: str, code: str, new_password: str) -> Tokens:
    settings = get_settings()
    now = int(clock.now())
    key = address_key(email)
    user = user_at(key)
    if user is None or not user.active:
        raise InvalidResetCode()
    # Count the attempt first: concurrent guesses cannot get more than the limit compared.
    try:
        record = PasswordReset(email=key)
        record.update(
            [PasswordReset.attempts.add(1)],
            condition=(PasswordReset.user_id == user.id)
            & PasswordReset.code_hash.exists()
            & (PasswordReset.code_expires > now)
            & (PasswordReset.attempts < settings.reset_max_attempts),
        )
    except UpdateError as exc:
        if condition_failed(exc):
            raise InvalidResetCode() from exc
        raise
    if not hmac.compare_digest(_code_hash(user.id, code), record.code_hash or ""):
        raise InvalidResetCode()
    uow = UnitOfWork()
    # Single use: of two confirmations of one code, one removes it first.
    uow.update(
        record,
        [PasswordReset.code_hash.remove(), PasswordReset.code_expires.remove()],
        condition=PasswordReset.code_hash == record.code_hash,
    )
    uow.update(
        user,
        new_password_actions(new_password),
        condition=(User.active == True) & (User.email == user.email),  # noqa: E712
    )
    if db.with_retries(uow.commit):
        raise InvalidResetCode()
    user.refresh(consistent_read=True)
    return issue_tokens(user)
