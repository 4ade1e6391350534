"""/users: admin-only management, role filter, pagination, the last-admin rule."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest

from chalicelib.store import db
from chalicelib.store.models import User
from tests.unit.helpers import Api, make_user

# Fixtures shared with test_auth (one moto per module, tables emptied between tests).

PASSWORD = "password123"


def new_user(role: str = "staff", **overrides: object) -> dict:
    return {
        "email": f"{role}-new@example.com",
        "password": PASSWORD,
        "name": "Someone",
        "role": role,
        **overrides,
    }


def list_all(api: Api, token: str, query: str = "", limit: int = 2) -> list[dict]:
    """Follow next_cursor until null; fails if it does not end."""
    items: list[dict] = []
    cursor = None
    for _ in range(100):
        url = f"/users?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
        reply = api.call("GET", url, token=token)
        assert reply.status == 200, reply.json
        assert len(reply.json["items"]) <= limit
        items += reply.json["items"]
        cursor = reply.json["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("next_cursor never became null")


@pytest.mark.parametrize("role", ["admin", "staff", "customer"])
def test_admin_creates_users_of_any_role(api, tokens, role):
    reply = api.call("POST", "/users", new_user(role), tokens["admin"])
    assert reply.status == 201, reply.json
    assert reply.json["role"] == role and reply.json["active"] is True
    assert set(reply.json) == {"id", "email", "name", "role", "active", "created_at"}
    assert api.login(f"{role}-new@example.com", PASSWORD)["token_type"] == "Bearer"


@pytest.mark.parametrize("caller", ["staff", "customer"])
def test_only_admins_manage_users(api, tokens, caller):
    user_id, _ = make_user("customer")
    token = tokens[caller]
    for method, path, body in [
        ("POST", "/users", new_user()),
        ("GET", "/users", None),
        ("GET", f"/users/{user_id}", None),
        ("PATCH", f"/users/{user_id}", {"role": "admin"}),
    ]:
        reply = api.call(method, path, body, token)
        assert reply.status == 403 and reply.json["code"] == "forbidden", (method, path)
    assert api.call("GET", f"/users/{user_id}", token=tokens["admin"]).json["role"] == "customer"


def test_create_user_validation(api, tokens):
    admin = tokens["admin"]
    assert api.call("POST", "/users", new_user("superuser"), admin).status == 400
    assert api.call("POST", "/users", new_user(password="short"), admin).status == 400
    assert api.call("POST", "/users", new_user(email="nope"), admin).status == 400
    assert api.call("POST", "/users", new_user(extra=1), admin).status == 400
    no_role = new_user()
    del no_role["role"]
    assert api.call("POST", "/users", no_role, admin).status == 400
    assert api.call("POST", "/users", new_user(), admin).status == 201
    taken = api.call("POST", "/users", new_user(email="STAFF-new@example.com"), admin)
    assert taken.status == 409 and taken.json["code"] == "email_taken"


def test_get_user_and_not_found(api, tokens):
    user_id, email = make_user("customer")
    reply = api.call("GET", f"/users/{user_id}", token=tokens["admin"])
    assert reply.status == 200 and reply.json["id"] == user_id and reply.json["email"] == email
    for missing in ("01HZZZZZZZZZZZZZZZZZZZZZZZ", "%F0%9F%98%80"):
        reply = api.call("GET", f"/users/{missing}", token=tokens["admin"])
        assert reply.status == 404 and reply.json["code"] == "not_found", reply.json
        reply = api.call("PATCH", f"/users/{missing}", {"name": "x"}, tokens["admin"])
        assert reply.status == 404, reply.json


def test_an_id_that_cannot_exist_is_not_looked_up(api, tokens):
    # DynamoDB refuses keys over 2048 bytes with a ValidationException (a 500 here); moto only
    # checks that on writes, so the test makes sure no read is attempted.
    with mock.patch.object(User, "get", side_effect=AssertionError("looked up")):
        reply = api.call("GET", f"/users/{'x' * 3000}", token=tokens["admin"])
    assert reply.status == 404 and reply.json["code"] == "not_found", reply.json


def test_patch_user_fields(api, tokens):
    user_id, email = make_user("customer")
    admin = tokens["admin"]
    reply = api.call("PATCH", f"/users/{user_id}", {"name": "Renamed", "role": "staff"}, admin)
    assert reply.status == 200, reply.json
    assert (reply.json["name"], reply.json["role"], reply.json["active"]) == (
        "Renamed",
        "staff",
        True,
    )
    assert api.call("GET", f"/users/{user_id}", token=admin).json["role"] == "staff"
    # The new role is in the tokens issued from now on.
    staff_token = api.login(email, PASSWORD)["access_token"]
    assert api.call("GET", "/products/X/movements", token=staff_token).status == 404
    for bad in (
        {"role": "root"},
        {"active": "false"},
        {"active": 1},
        {"name": ""},
        {"email": "not-an-address"},
        {"email": None},
        {"password": "new-password"},
        {"name": None},
        {"role": None},
        {"active": None},
        {"id": "other"},
    ):
        assert api.call("PATCH", f"/users/{user_id}", bad, admin).status == 400, bad


def test_role_filter(api, tokens):
    for role in ("staff", "staff", "customer"):
        make_user(role)
    admin = tokens["admin"]
    for role, expected in (("staff", 3), ("customer", 2), ("admin", 1)):
        found = list_all(api, admin, f"&role={role}", limit=100)
        assert len(found) == expected and {u["role"] for u in found} == {role}
    assert len(list_all(api, admin, limit=100)) == 6
    reply = api.call("GET", "/users?role=root", token=admin)
    assert reply.status == 400 and reply.json["code"] == "validation_error"


def test_pagination_yields_every_user_once_newest_first(api, tokens):
    created = [make_user(role)[0] for role in ("staff", "customer") * 4]
    every = list_all(api, tokens["admin"], limit=3)
    ids = [u["id"] for u in every]
    assert len(ids) == len(set(ids)) == 11
    assert set(created) <= set(ids)
    assert ids == sorted(ids, reverse=True)  # ULIDs: newest first
    staff = list_all(api, tokens["admin"], "&role=staff", limit=2)
    assert len(staff) == 5 and len({u["id"] for u in staff}) == 5


def test_last_admin_cannot_be_demoted_or_deactivated(api, aws):
    admin_id, email = make_user("admin")
    token = api.login(email, PASSWORD)["access_token"]
    for change in ({"role": "staff"}, {"active": False}, {"role": "customer", "active": False}):
        reply = api.call("PATCH", f"/users/{admin_id}", change, token)
        assert reply.status == 409 and reply.json["code"] == "last_admin", change
    # A deactivated admin does not count as an active one.
    other_id, _ = make_user("admin")
    assert api.call("PATCH", f"/users/{other_id}", {"active": False}, token).status == 200
    assert api.call("PATCH", f"/users/{admin_id}", {"role": "staff"}, token).status == 409
    # Harmless changes to the last admin still work.
    reply = api.call("PATCH", f"/users/{admin_id}", {"name": "Boss", "active": True}, token)
    assert reply.status == 200 and reply.json["name"] == "Boss"


def test_one_of_two_admins_may_step_down(api, aws):
    first_id, first = make_user("admin")
    second_id, _ = make_user("admin")
    token = api.login(first, PASSWORD)["access_token"]
    assert api.call("PATCH", f"/users/{second_id}", {"role": "staff"}, token).status == 200
    reply = api.call("PATCH", f"/users/{first_id}", {"role": "staff"}, token)
    assert reply.status == 409 and reply.json["code"] == "last_admin"


def test_deactivated_user_is_locked_out(api, tokens):
    user_id, email = make_user("staff")
    session = api.login(email, PASSWORD)
    reply = api.call("PATCH", f"/users/{user_id}", {"active": False}, tokens["admin"])
    assert reply.status == 200 and reply.json["active"] is False
    assert api.call("POST", "/auth/login", {"email": email, "password": PASSWORD}).status == 401
    reply = api.call("POST", "/auth/refresh", {"refresh_token": session["refresh_token"]})
    assert reply.status == 401
    # Reactivated: logging in works again.
    assert api.call("PATCH", f"/users/{user_id}", {"active": True}, tokens["admin"]).status == 200
    assert api.login(email, PASSWORD)["access_token"]


def test_two_admins_demoting_each_other_at_once_leave_one(api, aws, atomic_moto):
    ids_and_tokens = []
    for _ in range(2):
        user_id, email = make_user("admin")
        ids_and_tokens.append((user_id, api.login(email, PASSWORD)["access_token"]))
    (first, first_token), (second, second_token) = ids_and_tokens
    barrier = threading.Barrier(2)

    def demote(target: str, token: str) -> int:
        barrier.wait()
        return api.call("PATCH", f"/users/{target}", {"role": "staff"}, token).status

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(demote, (second, first), (first_token, second_token)))
    assert statuses == [200, 409]
    admins = [u for u in (User.get(first), User.get(second)) if u.role == "admin" and u.active]
    assert len(admins) == 1


class Stale:
    """What an eventually consistent index may still list as an active admin."""

    def __init__(self, user_id: str) -> None:
        self.id = user_id


def test_a_stale_index_entry_is_checked_then_another_admin_tried(api, aws):
    admin_id, email = make_user("admin")
    other_admin, _ = make_user("admin")
    former_admin, _ = make_user("staff")
    token = api.login(email, PASSWORD)["access_token"]
    listed = [Stale(former_admin), Stale(other_admin)]
    with mock.patch.object(User.by_role, "query", return_value=listed):
        reply = api.call("PATCH", f"/users/{admin_id}", {"role": "staff"}, token)
    assert reply.status == 200 and reply.json["role"] == "staff", reply.json


def test_only_stale_admins_in_the_index_give_503_not_a_demotion(api, aws):
    admin_id, email = make_user("admin")
    former_admin, _ = make_user("staff")
    token = api.login(email, PASSWORD)["access_token"]
    with (
        mock.patch.object(User.by_role, "query", return_value=[Stale(former_admin)]),
        mock.patch.object(db.time, "sleep"),
    ):
        reply = api.call("PATCH", f"/users/{admin_id}", {"active": False}, token)
    assert reply.status == 503 and reply.json["code"] == "busy" and reply.headers["Retry-After"]
    assert User.get(admin_id).active is True
