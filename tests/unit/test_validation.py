"""Request validation: bodies, query strings, cursors, and no 500 for anything a client sends."""

from __future__ import annotations

import base64
import json

import pytest

from tests.unit.helpers import Api

# Fixtures shared with test_auth (one moto per module, tables emptied between tests).


def post_raw(api: Api, path: str, raw: bytes, token: str | None = None):
    return api.call("POST", path, raw=raw, token=token)


def assert_error(reply, status: int, code: str) -> None:
    assert reply.status == status, (reply.status, reply.body)
    assert reply.json["code"] == code and reply.json["message"], reply.json


# ---- bodies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"",
        b"{'a': 1}",
        b'{"a": 1,}',
        b"\xff\xfe\x00",
        b'{"email": "x"} trailing',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b"1" * 5000,
    ],
)
def test_malformed_json_is_invalid_json(api, aws, raw):
    assert_error(post_raw(api, "/auth/login", raw), 400, "invalid_json")


@pytest.mark.parametrize("raw", [b"[]", b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_a_body_that_is_not_an_object(api, aws, raw):
    reply = post_raw(api, "/auth/register", raw)
    assert_error(reply, 400, "validation_error")
    assert reply.json["details"] == [{"field": "body", "message": "must be a JSON object"}]


def test_unknown_fields_are_listed(api, aws):
    body = {
        "email": "a@example.com",
        "password": "password123",
        "name": "A",
        "admin": True,
        "nested": {"x": 1},
    }
    reply = api.call("POST", "/auth/register", body)
    assert_error(reply, 400, "validation_error")
    fields = {d["field"] for d in reply.json["details"]}
    assert fields == {"admin", "nested"}
    assert all(set(d) == {"field", "message"} and d["message"] for d in reply.json["details"])


def test_every_invalid_field_is_reported(api, tokens):
    body = {"sku": "ok", "name": "", "price": "1.001", "stock": "3"}
    reply = api.call("POST", "/products", body, tokens["admin"])
    assert_error(reply, 400, "validation_error")
    assert {d["field"] for d in reply.json["details"]} == {"name", "price", "stock"}


WRONG_TYPES = [
    ("stock", "10"),
    ("stock", 10.0),
    ("stock", 1e3),
    ("stock", [10]),
    ("stock", {"n": 10}),
    ("low_stock_threshold", "5"),
    ("low_stock_threshold", 5.5),
    ("name", 123),
    ("name", ["Widget"]),
    ("name", {"en": "Widget"}),
    ("description", False),
    ("price", {"amount": "1.00"}),
    ("price", ["1.00"]),
]


def test_wrong_types_are_400(api, tokens):
    for field, value in WRONG_TYPES:
        body = {"sku": "T-1", "name": "Widget", "price": "1.00", field: value}
        reply = api.call("POST", "/products", body, tokens["admin"])
        assert_error(reply, 400, "validation_error")
        assert [d["field"] for d in reply.json["details"]] == [field], (field, value)


def test_login_types(api, aws):
    for body in (
        {"email": 5, "password": "x"},
        {"email": "a@b.c", "password": None},
        {"email": "a@b.c"},
        {},
    ):
        assert_error(api.call("POST", "/auth/login", body), 400, "validation_error")


# ---- query strings and cursors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "limit=1.5",
        "limit=",
        "limit=1e2",
        "cursor=",
        "unknown=1",
    ],
)
def test_bad_query_strings(api, tokens, query):
    for path in ("/products", "/users"):
        reply = api.call("GET", f"{path}?{query}", token=tokens["admin"])
        assert_error(reply, 400, "validation_error")


@pytest.mark.parametrize("limit", ["1", "100", "20"])
def test_limit_bounds_accepted(api, tokens, limit):
    assert api.call("GET", f"/products?limit={limit}", token=tokens["admin"]).status == 200


def some_cursor(api: Api, token: str) -> str:
    for sku in ("C-1", "C-2", "C-3"):
        assert (
            api.call("POST", "/products", {"sku": sku, "name": "C", "price": 1}, token).status
            == 201
        )
    cursor = api.call("GET", "/products?limit=1", token=token).json["next_cursor"]
    assert cursor
    return cursor


def test_garbage_and_tampered_cursors_are_400(api, tokens):
    admin = tokens["admin"]
    cursor = some_cursor(api, admin)
    assert api.call("GET", f"/products?limit=1&cursor={cursor}", token=admin).status == 200
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    flipped = raw[:-1] + bytes([raw[-1] ^ 1])  # the payload changed, the signature kept
    tampered = base64.urlsafe_b64encode(flipped).decode().rstrip("=")
    forged = base64.urlsafe_b64encode(b"\0" * 12 + b"C-1").decode().rstrip("=")
    unsigned = base64.urlsafe_b64encode(b"C-1").decode().rstrip("=")
    for bad in (
        "garbage",
        "%%%",
        "a",
        "=" * 8,
        "AAAA",
        tampered,
        forged,
        unsigned,
        "x" * 1000,
        "\u00e9t\u00e9",
        cursor[:-2],
    ):
        for path in ("/products", "/users", "/products/C-1/movements"):
            reply = api.call("GET", f"{path}?cursor={bad}", token=admin)
            assert_error(reply, 400, "validation_error")
            assert reply.json["details"][0]["field"] == "cursor", (bad, reply.json)


def test_a_cursor_of_one_list_is_refused_by_another(api, tokens):
    admin = tokens["admin"]
    products_cursor = some_cursor(api, admin)
    for sku in ("C-1", "C-2"):
        for stock in (1, 2, 3):
            assert api.call("PATCH", f"/products/{sku}", {"stock": stock}, admin).status == 200
    movements = api.call("GET", "/products/C-1/movements?limit=1", token=admin).json
    users_cursor = api.call("GET", "/users?limit=1", token=admin).json["next_cursor"]
    assert movements["next_cursor"] and users_cursor
    for path, foreign in (
        ("/users", products_cursor),
        ("/products", users_cursor),
        ("/products/C-1/movements", users_cursor),
        ("/products/C-2/movements", movements["next_cursor"]),
    ):
        reply = api.call("GET", f"{path}?cursor={foreign}", token=admin)
        assert_error(reply, 400, "validation_error")
    reply = api.call(
        "GET", f"/products/C-1/movements?cursor={movements['next_cursor']}", token=admin
    )
    assert reply.status == 200 and len(reply.json["items"]) == 3


def test_cursors_survive_a_key_rotation(api, tokens, monkeypatch):
    from chalicelib.auth import keys
    from chalicelib.settings import get_settings, reset_settings

    admin = tokens["admin"]
    cursor = some_cursor(api, admin)
    ring = {
        "current": "new",
        "keys": {"new": "n" * 40, "local": "unit-test-signing-key-that-is-long-enough-32b"},
    }
    monkeypatch.setenv("JWT_KEYS", json.dumps(ring))
    reset_settings()
    get_settings()  # read now: inside a request the stage's JWT_ISSUER would apply
    keys.forget_keys()
    assert api.call("GET", f"/products?limit=1&cursor={cursor}", token=admin).status == 200


# ---- nothing a client sends gives a 500 ---------------------------------------------------------

NASTY_BODIES = [
    {"sku": "N", "name": "N", "price": "NaN"},
    {"sku": "N", "name": "N", "price": "Infinity"},
    {"sku": "N", "name": "N", "price": "-Infinity"},
    {"sku": "N", "name": "N", "price": "1e999999999"},
    {"sku": "N", "name": "N", "price": "0.0000000000000000000000000001"},
    {"sku": "N", "name": "N", "price": 10**4000},
    {"sku": "N", "name": "N", "price": "9" * 5000},
    {"sku": "N", "name": "N", "price": "1", "stock": 10**4000},
    {"sku": "N", "name": "\ud800", "price": "1"},  # a lone surrogate
    {"sku": "\ud83d\ude00", "name": "N", "price": "1"},
    {"sku": "N", "name": {"a": {"b": {"c": [1, 2, {"d": None}]}}}, "price": "1"},
    {"sku": "N", "name": "N" * 100_000, "price": "1"},
    {"sku": ["N"], "name": "N", "price": "1"},
]


def test_nasty_product_bodies_are_client_errors(api, tokens):
    for body in NASTY_BODIES:
        reply = post_raw(api, "/products", json.dumps(body).encode(), tokens["admin"])
        assert 400 <= reply.status < 500, (str(body)[:80], reply.status, reply.body[:200])
        assert reply.json["code"] in {"validation_error", "invalid_json"}
    assert api.call("GET", "/products", token=tokens["admin"]).json["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"email": "\ud800@example.com", "password": "password123", "name": "A"},
        {"email": "a@example.com", "password": "\ud800" * 8, "name": "A"},
        {"email": "a@example.com", "password": "password123", "name": "\ud800"},
        {"email": "a" * 300 + "@example.com", "password": "password123", "name": "A"},
        {"email": "a@" + "b" * 300 + ".com", "password": "password123", "name": "A"},
        {"email": "\u00e9@\u00e9.example", "password": "\U0001f600" * 8, "name": "\u2603"},
        {"email": "a@[127.0.0.1]", "password": "password123", "name": "A"},
        {"email": '"quoted local"@example.com', "password": "password123", "name": "A"},
    ],
)
def test_nasty_registrations_are_never_500(api, aws, body):
    reply = post_raw(api, "/auth/register", json.dumps(body).encode())
    assert reply.status in (201, 400), (reply.status, reply.body[:200])
    login = {"email": body["email"], "password": body["password"]}
    reply = post_raw(api, "/auth/login", json.dumps(login).encode())
    assert reply.status in (200, 400, 401), (reply.status, reply.body[:200])


def test_nasty_tokens_and_refresh_tokens_are_never_500(api, aws):
    for token in ("\ud800", "x" * 600, "", "Bearer", "\u0000"):
        reply = post_raw(api, "/auth/refresh", json.dumps({"refresh_token": token}).encode())
        assert reply.status in (400, 401), (token, reply.status, reply.body)
