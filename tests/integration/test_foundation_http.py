"""The foundation over real HTTP against the local stack."""

from __future__ import annotations

import uuid

from tests.stack import ADMIN_EMAIL, new_user, start_stack, stop_stack


def test_health_and_docs(http):
    assert http.call("GET", "/health").json == {"status": "ok"}
    spec = http.call("GET", "/openapi.json")
    assert spec.status == 200 and "/products/{sku}" in spec.json["paths"]
    page = http.call("GET", "/docs")
    assert page.status == 200 and b"swagger-ui-bundle.js" in page.body
    asset = http.call("GET", "/docs/swagger-ui-bundle.js")
    assert asset.status == 200 and len(asset.body) > 100_000


def test_register_login_refresh_logout(http):
    email = f"Shopper-{uuid.uuid4().hex[:8]}@Example.com"
    reply = http.call(
        "POST", "/auth/register", {"email": email, "password": "password123", "name": "Shopper"}
    )
    assert reply.status == 201 and reply.json["role"] == "customer"
    assert (
        http.call(
            "POST",
            "/auth/register",
            {"email": email.upper(), "password": "password123", "name": "x"},
        ).json["code"]
        == "email_taken"
    )
    tokens = http.login(email.lower(), "password123")
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    me = http.call("GET", "/auth/me", token=tokens["access_token"])
    assert me.status == 200 and me.json["email"] == email.lower()

    rotated = http.call("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert rotated.status == 200
    reused = http.call("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert reused.status == 401
    new = rotated.json
    assert (
        http.call(
            "POST", "/auth/logout", {"refresh_token": new["refresh_token"]}, new["access_token"]
        ).status
        == 204
    )
    assert http.call("POST", "/auth/refresh", {"refresh_token": new["refresh_token"]}).status == 401


def test_bad_tokens_get_the_gateway_401(http):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        reply = http.call("GET", "/auth/me", headers=headers)
        assert reply.status == 401 and reply.json["code"] == "unauthorized"
    assert http.call("GET", "/no/such/route").status == 404


def test_a_products_life(http, admin):
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    _, customer = new_user(http, admin, "customer")
    _, staff = new_user(http, admin, "staff")
    body = {"sku": sku, "name": "Widget", "price": 19.99, "stock": 12}
    assert http.call("POST", "/products", body, customer).json["code"] == "forbidden"
    created = http.call("POST", "/products", body, admin)
    assert created.status == 201 and created.json["price"] == "19.99"
    assert http.call("POST", "/products", body, admin).json["code"] == "sku_exists"
    assert http.call("GET", f"/products/{sku}", token=customer).json["stock"] == 12
    patched = http.call("PATCH", f"/products/{sku}", {"stock": 4, "price": "20.5"}, admin)
    assert patched.status == 200 and patched.json["price"] == "20.50"
    ledger = http.call("GET", f"/products/{sku}/movements", token=staff).json["items"]
    assert [(m["kind"], m["quantity_change"]) for m in ledger] == [
        ("adjustment", -8),
        ("initial", 12),
    ]
    assert http.call("DELETE", f"/products/{sku}", token=admin).status == 204
    assert http.call("GET", f"/products/{sku}", token=admin).status == 404


def test_bad_input_is_400_not_500(http, admin):
    assert http.call("POST", "/products", raw=b"{nope", token=admin).json["code"] == "invalid_json"
    reply = http.call(
        "POST", "/products", {"sku": "x", "name": "n", "price": "1", "colour": 1}, admin
    )
    assert reply.status == 400 and reply.json["details"][0]["field"] == "colour"
    assert http.call("GET", "/products?cursor=garbage", token=admin).status == 400


def test_stack_starts_empty_and_stops_cleanly_on_sigterm():
    other = start_stack("moto")
    try:
        token = other.admin_token()
        users = other.http.call("GET", "/users", token=token).json["items"]
        assert [u["email"] for u in users] == [ADMIN_EMAIL]
        assert other.http.call("GET", "/products", token=token).json["items"] == []
    finally:
        assert stop_stack(other) == 0


def test_64_concurrent_clients_are_all_served(http):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=64) as pool:
        statuses = list(pool.map(lambda _: http.call("GET", "/health").status, range(256)))
    assert statuses == [200] * 256
