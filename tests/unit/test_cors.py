"""Browsers (API.md, Conventions and Browsers): CORS for the listed origins only, a preflight on
every route without a token, nosniff on every answer, no-store on /auth/*, HSTS when deployed.

Given CORS_ORIGINS (and STAGE) set before the request, when a browser-like request is answered
by the app, by its error handling or by the gateway shim, then ..."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.api.routing import ROUTES
from chalicelib.settings import get_settings, reset_settings
from tests.unit.helpers import Api, login_as, make_user

SHOP, CONSOLE, OTHER = "http://shop.test", "http://console.test", "http://evil.test"
# A value for each path parameter: a preflight names a path, not a resource.
SAMPLE = {"sku": "SKU-1", "id": "01J0000000000000000000000A", "asset": "swagger-ui.css"}
HSTS = "max-age=31536000; includeSubDomains"


def declared_paths() -> dict[str, set[str]]:
    paths: dict[str, set[str]] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, set()).add(spec.method)
    return paths


def concrete(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: SAMPLE[m[1]], path)


def lower(reply: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in reply.headers.items()}


def listed(value: str) -> set[str]:
    return {part.strip() for part in value.split(",")}


def cors_of(reply: Any) -> dict[str, str]:
    return {k: v for k, v in lower(reply).items() if k.startswith("access-control-")}


@pytest.fixture()
def configure(aws: None) -> Iterator[Callable[..., None]]:
    """Set browser settings for the next requests (read outside a request, as the app reads
    them once); the environment and the settings are restored afterwards."""
    with pytest.MonkeyPatch.context() as patch:

        def apply(**env: str) -> None:
            for name, value in env.items():
                patch.setenv(name, value)
            reset_settings()
            get_settings()

        yield apply
    reset_settings()


@pytest.fixture()
def two_origins(configure: Callable[..., None]) -> None:
    configure(CORS_ORIGINS=f"{SHOP}, {CONSOLE}")


def origin(value: str) -> dict[str, str]:
    return {"Origin": value}


def assert_allowed(reply: Any, allowed: str) -> None:
    headers = lower(reply)
    assert headers.get("access-control-allow-origin") == allowed, (reply.status, headers)
    assert "Origin" in listed(headers["vary"])
    assert "Retry-After" in listed(headers["access-control-expose-headers"])
    assert "access-control-allow-credentials" not in headers


# ---- an allowed origin: every kind of answer ------------------------------------------------


@pytest.mark.parametrize("allowed", [SHOP, CONSOLE])
def test_an_allowed_origin_reads_successes_and_application_errors(
    api: Api, two_origins: None, allowed: str
) -> None:
    _, admin = login_as(api, "admin")
    success = api.call("GET", "/health", headers=origin(allowed))
    assert success.status == 200
    assert_allowed(success, allowed)
    missing = api.call("GET", "/products/NO-SUCH-1", token=admin, headers=origin(allowed))
    assert missing.status == 404 and missing.json["code"] == "not_found"
    assert_allowed(missing, allowed)
    bad = api.call("POST", "/products", raw=b"{not json", token=admin, headers=origin(allowed))
    assert bad.status == 400 and bad.json["code"] == "invalid_json"
    assert_allowed(bad, allowed)


@pytest.mark.parametrize("allowed", [SHOP, CONSOLE])
def test_an_allowed_origin_reads_the_gateways_own_answers(
    api: Api, two_origins: None, allowed: str
) -> None:
    no_token = api.call("GET", "/products", headers=origin(allowed))
    assert no_token.status == 401 and no_token.json["code"] == "unauthorized"
    assert_allowed(no_token, allowed)
    bad_token = api.call("GET", "/products", token="not-a-jwt", headers=origin(allowed))
    assert bad_token.status == 401
    assert_allowed(bad_token, allowed)
    unknown = api.call("GET", "/no-such-path", headers=origin(allowed))
    assert unknown.status == 404
    assert_allowed(unknown, allowed)
    undeclared = api.call("PUT", "/health", headers=origin(allowed))
    assert undeclared.status == 405
    assert_allowed(undeclared, allowed)


@pytest.mark.parametrize("allowed", [SHOP, CONSOLE])
def test_every_route_answers_a_preflight_without_a_token(
    api: Api, two_origins: None, allowed: str
) -> None:
    for path, methods in declared_paths().items():
        reply = api.call(
            "OPTIONS",
            concrete(path),
            headers={**origin(allowed), "Access-Control-Request-Method": sorted(methods)[0]},
        )
        headers = lower(reply)
        assert reply.status == 204, (path, reply.status, reply.body)
        assert listed(headers["access-control-allow-methods"]) == methods | {"OPTIONS"}, path
        assert {"Authorization", "Content-Type", "Idempotency-Key"} <= listed(
            headers["access-control-allow-headers"]
        )
        assert int(headers["access-control-max-age"]) > 0
        assert listed(headers["allow"]) == methods | {"OPTIONS"}
        assert_allowed(reply, allowed)


# ---- anything else: no Access-Control-Allow-Origin ------------------------------------------


def test_an_unlisted_origin_gets_no_allow_origin_on_any_answer(api: Api, two_origins: None) -> None:
    _, admin = login_as(api, "admin")
    replies = [
        api.call("GET", "/health", headers=origin(OTHER)),
        api.call("GET", "/products/NO-SUCH-1", token=admin, headers=origin(OTHER)),
        api.call("GET", "/products", headers=origin(OTHER)),  # the shim's 401
        api.call("OPTIONS", "/products", headers=origin(OTHER)),
        # An origin differs from a listed one by its scheme or its port.
        api.call("GET", "/health", headers=origin("https://shop.test")),
        api.call("GET", "/health", headers=origin("http://shop.test:8080")),
        api.call("GET", "/health"),  # not a browser's cross-origin request
    ]
    assert [r.status for r in replies] == [200, 404, 401, 204, 200, 200, 200]
    for reply in replies:
        assert cors_of(reply) == {}, (reply.status, reply.headers)
        # Listed origins would get another answer: caches must keep them apart.
        assert "Origin" in listed(lower(reply)["vary"])


def test_the_preflight_of_an_unlisted_origin_grants_nothing(api: Api, two_origins: None) -> None:
    reply = api.call(
        "OPTIONS",
        "/sales-orders",
        headers={**origin(OTHER), "Access-Control-Request-Method": "POST"},
    )
    assert reply.status == 204
    assert cors_of(reply) == {}
    assert listed(lower(reply)["allow"]) == {"GET", "POST", "OPTIONS"}


def test_no_cors_origins_means_no_cors_headers_at_all(
    api: Api, configure: Callable[..., None]
) -> None:
    configure(CORS_ORIGINS="")
    replies = [
        api.call("GET", "/health", headers=origin(SHOP)),
        api.call("GET", "/products", headers=origin(SHOP)),
        api.call("OPTIONS", "/products", headers=origin(SHOP)),
        api.call("GET", "/no-such-path", headers=origin(SHOP)),
    ]
    assert [r.status for r in replies] == [200, 401, 204, 404]
    for reply in replies:
        assert cors_of(reply) == {} and "vary" not in lower(reply), reply.headers


def test_a_preflight_is_never_sent_to_the_authorizer_and_is_not_documented(api: Api) -> None:
    from app import app

    preflights = {path: m["OPTIONS"] for path, m in app.routes.items() if "OPTIONS" in m}
    assert set(preflights) == set(declared_paths())
    assert all(entry.authorizer is None for entry in preflights.values())
    document = api.call("GET", "/openapi.json").json
    assert not [path for path, ops in document["paths"].items() if "options" in ops]


# ---- security headers -----------------------------------------------------------------------


def test_every_answer_says_nosniff(api: Api, two_origins: None) -> None:
    _, admin = login_as(api, "admin")
    replies = [
        api.call("GET", "/health"),
        api.call("GET", "/docs"),
        api.call("GET", "/docs/swagger-ui.css"),
        api.call("GET", "/products", token=admin),
        api.call("GET", "/products/NO-SUCH-1", token=admin),
        api.call("GET", "/products"),
        api.call("GET", "/no-such-path"),
        api.call("PUT", "/health"),
        api.call("OPTIONS", "/health", headers=origin(SHOP)),
    ]
    assert [r.status for r in replies] == [200, 200, 200, 200, 404, 401, 404, 405, 204]
    for reply in replies:
        assert lower(reply)["x-content-type-options"] == "nosniff", (reply.status, reply.headers)


def test_every_auth_answer_is_no_store_and_others_are_not(api: Api, two_origins: None) -> None:
    _, admin = login_as(api, "admin")
    _, email = make_user("customer")
    account = [
        api.call("POST", "/auth/login", {"email": email, "password": "password123"}),
        api.call("POST", "/auth/login", {"email": email, "password": "wrong-password"}),
        api.call("POST", "/auth/login", raw=b"{"),
        api.call("GET", "/auth/me", token=admin),
        api.call("GET", "/auth/me"),  # the shim's 401
        api.call("OPTIONS", "/auth/me", headers=origin(SHOP)),
        api.call("GET", "/auth/no-such-path"),  # the shim's 404
    ]
    assert [r.status for r in account] == [200, 401, 400, 200, 401, 204, 404]
    for reply in account:
        assert lower(reply)["cache-control"] == "no-store", (reply.status, reply.headers)
    assert "cache-control" not in lower(api.call("GET", "/health"))


def test_hsts_only_where_the_api_is_deployed(api: Api, configure: Callable[..., None]) -> None:
    assert "strict-transport-security" not in lower(api.call("GET", "/health"))
    configure(STAGE="dev")
    for reply in (api.call("GET", "/health"), api.call("GET", "/products")):
        assert lower(reply)["strict-transport-security"] == HSTS, reply.status
