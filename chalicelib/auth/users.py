"""Users: registration, admin management, login with throttling, refresh rotation, logout."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition
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
    WrongPassword,
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


NOT_AN_ADDRESS = "invalid:"  # the key prefix of a string that is no address


def address_key(email: str) -> str:
    """The one key of an address as typed: its normalized form when it is an address (every
    spelling of one account's address gives the same key), else a hash of it as sent."""
    try:
        return normalize_email(email)
    except ValidationFailed:
        digest = hashlib.sha256(email.encode("utf-8", "surrogatepass")).hexdigest()
        return NOT_AN_ADDRESS + digest


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
    return user_at(address_key(email))


def user_at(key: str) -> User | None:
    """The user whose address has this `address_key`, or None."""
    if key.startswith(NOT_AN_ADDRESS):  # nobody can have registered it
        return None
    try:
        claim = EmailClaim.get(key, consistent_read=True)
        return User.get(claim.user_id, consistent_read=True)
    except DoesNotExist:
        return None


def list_users(role: str | None, limit: int, after: str | None) -> Page[User]:
    roles = [role] if role else list(Role)
    return newest_first([(User.by_role, r) for r in roles], User.id, limit, after)


def update_user(
    user_id: str,
    name: str | None = None,
    role: str | None = None,
    active: bool | None = None,
    email: str | None = None,
) -> User:
    new_email = normalize_email(email) if email is not None else None
    attempt = itertools.count()
    # Bounded: a user changed under us (or a stale index entry) is retried with backoff, then 503.
    return db.with_retries(
        lambda: _update_once(user_id, name, role, active, new_email, next(attempt)), attempts=8
    )


def _update_once(
    user_id: str,
    name: str | None,
    role: str | None,
    active: bool | None,
    email: str | None,
    attempt: int,
) -> User:
    user = get_user(user_id)
    actions: list[Action] = []
    if name is not None:
        actions.append(User.name.set(name))
    if role is not None:
        actions.append(User.role.set(role))
    if active is not None:
        actions.append(User.active.set(active))
    new_email = email if email != user.email else None
    if new_email is not None:
        actions.append(User.email.set(new_email))
    if not actions:
        return user
    stays_admin = (role or user.role) == Role.ADMIN and (user.active if active is None else active)
    # Optimistic: the update applies to the user as we read it.
    condition = (User.role == user.role) & (User.active == user.active) & (User.email == user.email)
    is_admin = (User.role == Role.ADMIN) & (User.active == True)  # noqa: E712
    uow = UnitOfWork()
    user_slot = uow.update(user, actions, condition=condition)
    claim_slot = None
    if new_email is not None:
        # The new address is claimed and the old one freed in the same transaction.
        claim_slot = uow.put(
            EmailClaim(email=new_email, user_id=user.id),
            condition=EmailClaim.email.does_not_exist(),
        )
        uow.delete(
            EmailClaim(email=user.email),
            condition=(EmailClaim.user_id == user.id) | EmailClaim.email.does_not_exist(),
        )
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
        uow.check(User, others[attempt % len(others)], condition=is_admin)
    failed = uow.commit()
    if claim_slot in failed and user_slot not in failed:
        raise EmailTaken()
    if failed:
        raise db.Contention()  # changed under us: decide again
    return get_user(user_id)


# ---- sessions and passwords -------------------------------------------------------------------


def issue_tokens(user: User) -> Tokens:
    settings = get_settings()
    refresh = tokens.new_refresh_token()
    # Measured on chalicelib.clock like every other expiry, so that tests can move time.
    expires = datetime.fromtimestamp(clock.now() + settings.refresh_token_ttl, tz=UTC)
    RefreshToken(
        token_hash=tokens.refresh_token_hash(refresh),
        user_id=user.id,
        generation=user.token_generation or 0,
        expires_at=expires,
    ).save()
    return Tokens(tokens.issue_access_token(user.id, user.role), refresh, settings.access_token_ttl)


def new_password_actions(password: str) -> list[Action]:
    """What every password change or reset writes: the hash, a new token generation (every
    earlier refresh token stops working) and no login lockout."""
    return [
        User.password_hash.set(passwords.hash_password(password)),
        User.token_generation.add(1),
        User.failed_logins.remove(),
        User.failures_since.remove(),
    ]


def _same_generation(user: User) -> Condition:
    if user.token_generation is None:
        return User.token_generation.does_not_exist()
    return User.token_generation == user.token_generation


def set_password(user: User, password: str) -> User:
    """Set a password (reset by the command line); `user` is updated in place."""
    user.update(new_password_actions(password))
    return user


def _locked(user: User, now: float) -> bool:
    settings = get_settings()
    return (user.failed_logins or 0) >= settings.login_max_failures and (
        user.failures_since or 0
    ) > now - settings.login_window_seconds


def _refuse_if_locked(user: User, now: float) -> None:
    if _locked(user, now):
        retry_after = (user.failures_since or 0) + get_settings().login_window_seconds - now
        raise TooManyAttempts(headers={"Retry-After": str(int(retry_after) + 1)})


def _record_failure(user: User, now: float) -> None:
    window_start = now - get_settings().login_window_seconds
    try:  # inside the current window: count it
        user.update([User.failed_logins.add(1)], condition=User.failures_since > window_start)
    except UpdateError as exc:  # no window, or an old one: open a new one
        if not condition_failed(exc):
            raise
        user.update([User.failed_logins.set(1), User.failures_since.set(int(now))])


def _rehash_if_old(user: User, password: str) -> None:
    """A hash of an older algorithm or cost is replaced at the first login that proves it."""
    if not passwords.needs_rehash(user.password_hash):
        return
    with contextlib.suppress(UpdateError):  # changed meanwhile (a reset): keep the newer one
        user.update(
            [User.password_hash.set(passwords.hash_password(password))],
            condition=User.password_hash == user.password_hash,
        )


def login(email: str, password: str) -> Tokens:
    now = clock.now()
    user = find_by_email(email)
    if user is None:
        passwords.burn_time(password)
        raise InvalidCredentials()
    _refuse_if_locked(user, now)
    if not passwords.verify_password(password, user.password_hash):
        _record_failure(user, now)
        raise InvalidCredentials()
    if not user.active:
        raise InvalidCredentials("This account is disabled")
    if user.failed_logins:
        user.update([User.failed_logins.remove(), User.failures_since.remove()])
    _rehash_if_old(user, password)
    return issue_tokens(user)


def change_password(caller_id: str, current: str, new: str) -> Tokens:
    """The caller's own password, proven by the current one (counted like a login)."""
    now = clock.now()
    user = get_user(caller_id)
    if not user.active:
        raise Unauthorized("This account is disabled")
    _refuse_if_locked(user, now)
    if not passwords.verify_password(current, user.password_hash):
        _record_failure(user, now)
        raise WrongPassword()
    try:
        # Conditional: a change or reset that landed since the check wins (a rehash at login
        # keeps the generation: it is the same password).
        user.update(new_password_actions(new), condition=_same_generation(user))
    except UpdateError as exc:
        if condition_failed(exc):
            raise WrongPassword() from exc
        raise
    return issue_tokens(user)


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
    if (stored.generation or 0) != (user.token_generation or 0):
        raise Unauthorized("This refresh token was revoked by a password change")
    return issue_tokens(user)


def logout(caller_id: str, refresh_token: str) -> None:
    with contextlib.suppress(DeleteError):  # unknown or someone else's token: nothing to revoke
        RefreshToken(token_hash=tokens.refresh_token_hash(refresh_token)).delete(
            condition=RefreshToken.user_id == caller_id
        )


class NotAnAdmin(Exception):
    """The address belongs to a staff member or customer: the command line does not promote."""


@dataclass(frozen=True)
class EnsuredAdmin:
    user: User
    created: bool
    password_reset: bool = False


def ensure_admin(
    email: str, password: str, name: str = "Admin", reset_password: bool = False
) -> EnsuredAdmin:
    """The first admin (command line, local stack start). With `reset_password`, an existing
    admin gets this password, for the operator who lost the last admin password."""
    existing = find_by_email(email)
    if existing is None:
        try:
            return EnsuredAdmin(create_user(email, password, name, Role.ADMIN), created=True)
        except EmailTaken:  # created meanwhile
            existing = find_by_email(email)
            assert existing is not None
    if not reset_password:
        return EnsuredAdmin(existing, created=False)
    if existing.role != Role.ADMIN:
        raise NotAnAdmin(existing.email)
    return EnsuredAdmin(set_password(existing, password), created=False, password_reset=True)
