"""Routes: /auth/* and /users."""

from __future__ import annotations

from chalicelib.api.pagination import decode_cursor, page_out
from chalicelib.api.routing import ADMIN, ANY_ROLE, ANYONE, Call, Resource
from chalicelib.auth import users
from chalicelib.errors import ValidationFailed
from chalicelib.schemas import (
    CreateUserIn,
    LoginIn,
    Page,
    RefreshIn,
    RegisterIn,
    TokensOut,
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
    summary="Change a user's name, role or active flag",
)
def update_user(call: Call) -> UserOut:
    b = call.body
    # As for products: an explicit null is a client error, not "leave unchanged".
    nulls = [name for name, value in b.model_dump(exclude_unset=True).items() if value is None]
    if nulls:
        raise ValidationFailed(details=[{"field": n, "message": "may not be null"} for n in nulls])
    return user_out(users.update_user(call.params["id"], b.name, b.role, b.active))
