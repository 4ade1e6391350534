"""Users: registration, admin management, login with throttling, refresh rotation, logout."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from chalicelib import clock
from chalicelib.auth import passwords, tokens
from chalicelib.errors import (
    EmailTaken,
    InvalidCredentials,
    LastAdmin,
    NotFound,
    TooManyAttempts,
    Unauthorized,
    ValidationFailed,
)
from chalicelib.settings import get_settings
from chalicelib.store import db
from chalicelib.store.models import EmailClaim, RefreshToken, User
from chalicelib.store.pages import Page, newest_first
from chalicelib.store.transact import UnitOfWork, condition_failed
from chalicelib.vocabulary import Role


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int


def normalize_email(email: str) -> str:
    """Syntax only (no DNS); unique case-insensitively, so the whole address is lower-cased."""
    # Imported here: it compiles its patterns at import (~14 ms), which a cold start that never
    # sees an address (most requests) should not pay.
    from email_validator import EmailNotValidError, validate_email

    try:
        # test_environment: also take the reserved .test domain, a syntactically valid address.
        valid = validate_email(email, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValidationFailed(details=[{"field": "email", "message": str(exc)}]) from None
    return valid.normalized.lower()


def create_user(email: str, password: str, name: str, role: str) -> User:
    user = User(
        id=clock.new_id(),
        email=normalize_email(email),
        name=name,
        role=role,
        active=True,
        password_hash=passwords.hash_password(password),
        created_at=clock.iso(),
    )
    uow = UnitOfWork()
    uow.put(
        EmailClaim(email=user.email, user_id=user.id), condition=EmailClaim.email.does_not_exist()
    )
    uow.put(user, condition=User.id.does_not_exist())
    if uow.commit():
        raise EmailTaken()
    return user


def get_user(user_id: str) -> User:
    try:
        return User.get(user_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound("No user has this id") from None


def find_by_email(email: str) -> User | None:
    """The user of an address as typed (normalized like at registration), or None."""
    try:
        key = normalize_email(email)
    except ValidationFailed:  # not an address: nobody can have registered it
        return None
    try:
        claim = EmailClaim.get(key, consistent_read=True)
        return User.get(claim.user_id, consistent_read=True)
    except DoesNotExist:
        return None


def list_users(role: str | None, limit: int, after: str | None) -> Page[User]:
    roles = [role] if role else list(Role)
    return newest_first([(User.by_role, r) for r in roles], User.id, limit, after)


def update_user(user_id: str, name: str | None, role: str | None, active: bool | None) -> User:
    attempt = itertools.count()
    # Bounded: a user changed under us (or a stale index entry) is retried with backoff, then 503.
    return db.with_retries(
        lambda: _update_once(user_id, name, role, active, next(attempt)), attempts=8
    )


def _update_once(
    user_id: str, name: str | None, role: str | None, active: bool | None, attempt: int
) -> User:
    user = get_user(user_id)
    actions: list[Action] = []
    if name is not None:
        actions.append(User.name.set(name))
    if role is not None:
        actions.append(User.role.set(role))
    if active is not None:
        actions.append(User.active.set(active))
    if not actions:
        return user
    stays_admin = (role or user.role) == Role.ADMIN and (user.active if active is None else active)
    # Optimistic: the update applies to the user as we read it.
    condition = (User.role == user.role) & (User.active == user.active)
    is_admin = (User.role == Role.ADMIN) & (User.active == True)  # noqa: E712
    if user.role == Role.ADMIN and user.active and not stays_admin:
        # The index is eventually consistent: its answer is checked in the transaction, and
        # each retry checks another candidate, in case the first one is stale.
        others = [
            u.id
            for u in User.by_role.query(Role.ADMIN, filter_condition=is_admin)
            if u.id != user.id
        ]
        if not others:
            raise LastAdmin()
        # Checking one other admin is enough: of two admins demoting each other at once,
        # the second transaction finds its check broken and fails.
        uow = UnitOfWork()
        uow.update(user, actions, condition=condition)
        uow.check(User, others[attempt % len(others)], condition=is_admin)
        if uow.commit():
            raise db.Contention()  # changed under us: decide again
    else:
        try:
            user.update(actions, condition=condition)
        except UpdateError as exc:
            if condition_failed(exc):
                raise db.Contention() from exc
            raise
    return get_user(user_id)


# ---- sessions -----------------------------------------------------------------------------------


def _issue(user: User) -> Tokens:
    settings = get_settings()
    refresh = tokens.new_refresh_token()
    # Measured on chalicelib.clock like every other expiry, so that tests can move time.
    expires = datetime.fromtimestamp(clock.now() + settings.refresh_token_ttl, tz=UTC)
    RefreshToken(
        token_hash=tokens.refresh_token_hash(refresh), user_id=user.id, expires_at=expires
    ).save()
    return Tokens(tokens.issue_access_token(user.id, user.role), refresh, settings.access_token_ttl)


def _locked(user: User, now: float) -> bool:
    settings = get_settings()
    return (user.failed_logins or 0) >= settings.login_max_failures and (
        user.failures_since or 0
    ) > now - settings.login_window_seconds


def _record_failure(user: User, now: float) -> None:
    window_start = now - get_settings().login_window_seconds
    try:  # inside the current window: count it
        user.update([User.failed_logins.add(1)], condition=User.failures_since > window_start)
    except UpdateError as exc:  # no window, or an old one: open a new one
        if not condition_failed(exc):
            raise
        user.update([User.failed_logins.set(1), User.failures_since.set(int(now))])


def login(email: str, password: str) -> Tokens:
    now = clock.now()
    user = find_by_email(email)
    if user is None:
        passwords.burn_time(password)
        raise InvalidCredentials()
    if _locked(user, now):
        raise TooManyAttempts(
            headers={
                "Retry-After": str(
                    int((user.failures_since or 0) + get_settings().login_window_seconds - now) + 1
                )
            }
        )
    if not passwords.verify_password(password, user.password_hash):
        _record_failure(user, now)
        raise InvalidCredentials()
    if not user.active:
        raise InvalidCredentials("This account is disabled")
    if user.failed_logins:
        user.update([User.failed_logins.remove(), User.failures_since.remove()])
    return _issue(user)


def refresh(refresh_token: str) -> Tokens:
    token_hash = tokens.refresh_token_hash(refresh_token)
    try:
        stored = RefreshToken.get(token_hash, consistent_read=True)
        # Single use: of two concurrent refreshes with one token, only one deletes it.
        stored.delete(condition=RefreshToken.token_hash.exists())
    except (DoesNotExist, DeleteError):  # unknown, or another refresh used it first
        raise Unauthorized("This refresh token is not valid") from None
    if stored.expires_at.timestamp() < clock.now():
        raise Unauthorized("This refresh token has expired")
    try:
        user = User.get(stored.user_id, consistent_read=True)
    except DoesNotExist:
        raise Unauthorized("This refresh token is not valid") from None
    if not user.active:
        raise Unauthorized("This account is disabled")
    return _issue(user)


def logout(caller_id: str, refresh_token: str) -> None:
    with contextlib.suppress(DeleteError):  # unknown or someone else's token: nothing to revoke
        RefreshToken(token_hash=tokens.refresh_token_hash(refresh_token)).delete(
            condition=RefreshToken.user_id == caller_id
        )


def ensure_admin(email: str, password: str, name: str = "Admin") -> tuple[User, bool]:
    """The first admin (command line, local stack start). Returns (user, created)."""
    existing = find_by_email(email)
    if existing is not None:
        return existing, False
    try:
        return create_user(email, password, name, Role.ADMIN), True
    except EmailTaken:
        return find_by_email(email), False  # type: ignore[return-value]
