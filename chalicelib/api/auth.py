"""Routes: /auth/* and /users."""

from __future__ import annotations

from chalicelib.api.pagination import decode_cursor, page_out
from chalicelib.api.routing import ADMIN, ANY_ROLE, ANYONE, Call, Resource, sent_fields
from chalicelib.auth import resets, users
from chalicelib.schemas import (
    AcceptedOut,
    ChangePasswordIn,
    CreateUserIn,
    LoginIn,
    Page,
    RefreshIn,
    RegisterIn,
    ResetConfirmIn,
    ResetRequestIn,
    TokensOut,
    UpdateMeIn,
    UpdateUserIn,
    UserOut,
    UserQuery,
)
from chalicelib.store.models import User
from chalicelib.vocabulary import Role

api = Resource("auth")


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        active=user.active,
        created_at=user.created_at,
    )


def tokens_out(tokens: users.Tokens) -> TokensOut:
    return TokensOut(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )


@api.route(
    "/auth/register",
    "POST",
    roles=ANYONE,
    body=RegisterIn,
    response=UserOut,
    status=201,
    errors=(409,),
    summary="Register a customer account",
)
def register(call: Call) -> UserOut:
    b = call.body
    return user_out(users.create_user(b.email, b.password, b.name, Role.CUSTOMER))


@api.route(
    "/auth/login",
    "POST",
    roles=ANYONE,
    body=LoginIn,
    response=TokensOut,
    errors=(401, 429),
    summary="Log in with email and password",
)
def login(call: Call) -> TokensOut:
    return tokens_out(users.login(call.body.email, call.body.password))


@api.route(
    "/auth/refresh",
    "POST",
    roles=ANYONE,
    body=RefreshIn,
    response=TokensOut,
    errors=(401,),
    summary="Trade a refresh token for new tokens (rotation)",
)
def refresh(call: Call) -> TokensOut:
    return tokens_out(users.refresh(call.body.refresh_token))


@api.route(
    "/auth/logout",
    "POST",
    roles=ANY_ROLE,
    body=RefreshIn,
    status=204,
    summary="Revoke a refresh token",
)
def logout(call: Call) -> None:
    users.logout(call.me.id, call.body.refresh_token)


@api.route("/auth/me", "GET", roles=ANY_ROLE, response=UserOut, summary="The caller's account")
def me(call: Call) -> UserOut:
    return user_out(users.get_user(call.me.id))


@api.route(
    "/auth/me",
    "PATCH",
    roles=ANY_ROLE,
    body=UpdateMeIn,
    response=UserOut,
    summary="Change the caller's display name",
)
def update_me(call: Call) -> UserOut:
    sent_fields(call.body)
    return user_out(users.update_user(call.me.id, name=call.body.name))


@api.route(
    "/auth/password",
    "POST",
    roles=ANY_ROLE,
    body=ChangePasswordIn,
    response=TokensOut,
    errors=(403, 429),
    summary="Change the caller's password (every refresh token is revoked; a fresh pair back)",
)
def change_password(call: Call) -> TokensOut:
    b = call.body
    return tokens_out(users.change_password(call.me.id, b.current_password, b.new_password))


ACCEPTED = AcceptedOut()


@api.route(
    "/auth/password-reset",
    "POST",
    roles=ANYONE,
    body=ResetRequestIn,
    response=AcceptedOut,
    status=202,
    summary="Email a reset code (the same answer whatever the email)",
)
def request_password_reset(call: Call) -> AcceptedOut:
    resets.request_reset(call.body.email)
    return ACCEPTED


@api.route(
    "/auth/password-reset/confirm",
    "POST",
    roles=ANYONE,
    body=ResetConfirmIn,
    response=TokensOut,
    summary="Set a new password with an emailed code (every session is revoked)",
)
def confirm_password_reset(call: Call) -> TokensOut:
    b = call.body
    return tokens_out(resets.confirm_reset(b.email, b.code, b.new_password))


@api.route(
    "/users",
    "POST",
    roles=ADMIN,
    body=CreateUserIn,
    response=UserOut,
    status=201,
    errors=(409,),
    summary="Create a user of any role",
)
def create_user(call: Call) -> UserOut:
    b = call.body
    return user_out(users.create_user(b.email, b.password, b.name, b.role))


@api.route(
    "/users",
    "GET",
    roles=ADMIN,
    query=UserQuery,
    response=Page[UserOut],
    summary="List users, newest first",
)
def list_users(call: Call) -> dict:
    q = call.query
    page = users.list_users(q.role, q.limit, decode_cursor(q.cursor, "users"))
    return page_out(page, user_out, "users")


@api.route("/users/{id}", "GET", roles=ADMIN, response=UserOut, errors=(404,), summary="One user")
def get_user(call: Call) -> UserOut:
    return user_out(users.get_user(call.params["id"]))


@api.route(
    "/users/{id}",
    "PATCH",
    roles=ADMIN,
    body=UpdateUserIn,
    response=UserOut,
    errors=(404, 409),
    summary="Change a user's name, email, role or active flag",
)
def update_user(call: Call) -> UserOut:
    b = call.body
    sent_fields(b)
    return user_out(users.update_user(call.params["id"], b.name, b.role, b.active, b.email))


@api.route(
    "/users/{id}/password-reset",
    "POST",
    roles=ADMIN,
    response=AcceptedOut,
    status=202,
    errors=(404,),
    summary="Email a user a reset code (nothing to a deactivated user)",
)
def send_password_reset(call: Call) -> AcceptedOut:
    resets.send_reset(users.get_user(call.params["id"]))
    return ACCEPTED
