"""Browsers over HTTP against the local stack (started with two CORS_ORIGINS): the origin
headers on successes, application errors, the gateway's 401 and preflights, for each listed
origin and for no other; nosniff everywhere; no-store on /auth/*."""

from __future__ import annotations

from typing import Any

import pytest

from tests.stack import Http

OTHER = "http://evil.test"


def listed(value: str) -> set[str]:
    return {part.strip() for part in value.split(",")}


def answers(http: Http, admin: str, origin: str) -> dict[str, Any]:
    """One answer of each kind, all requested from `origin`."""
    sent = {"Origin": origin}
    return {
        "success": http.call("GET", "/products", token=admin, headers=sent),
        "app error": http.call("GET", "/products/NO-SUCH-1", token=admin, headers=sent),
        "gateway 401": http.call("GET", "/products", headers=sent),
        "preflight": http.call(
            "OPTIONS",
            "/sales-orders",
            headers={
                **sent,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
            },
        ),
    }


STATUSES = {"success": 200, "app error": 404, "gateway 401": 401, "preflight": 204}


@pytest.mark.parametrize("which", [0, 1])
def test_each_listed_origin_reads_every_kind_of_answer(
    http: Http, admin: str, allowed_origins: tuple[str, ...], which: int
) -> None:
    origin = allowed_origins[which]
    replies = answers(http, admin, origin)
    for kind, reply in replies.items():
        assert reply.status == STATUSES[kind], (kind, reply.body)
        assert reply.headers.get("Access-Control-Allow-Origin") == origin, kind
        assert "Origin" in listed(reply.headers["Vary"]), kind
        assert "Retry-After" in listed(reply.headers["Access-Control-Expose-Headers"]), kind
        assert reply.headers["X-Content-Type-Options"] == "nosniff", kind
    preflight = replies["preflight"]
    assert listed(preflight.headers["Access-Control-Allow-Methods"]) == {"GET", "POST", "OPTIONS"}
    assert {"Authorization", "Content-Type", "Idempotency-Key"} <= listed(
        preflight.headers["Access-Control-Allow-Headers"]
    )
    assert int(preflight.headers["Access-Control-Max-Age"]) > 0


def test_an_unlisted_origin_is_never_allowed(http: Http, admin: str) -> None:
    for kind, reply in answers(http, admin, OTHER).items():
        assert reply.status == STATUSES[kind], (kind, reply.body)
        granted = [h for h in reply.headers if h.lower().startswith("access-control-")]
        assert granted == [], (kind, reply.headers)
        assert reply.headers["X-Content-Type-Options"] == "nosniff", kind


def test_the_local_servers_own_answers_say_nosniff(http: Http) -> None:
    unknown = http.call("GET", "/no-such-path")
    undeclared = http.call("TRACE", "/health")
    assert (unknown.status, undeclared.status) == (404, 405)
    for reply in (unknown, undeclared, http.call("GET", "/docs")):
        assert reply.headers["X-Content-Type-Options"] == "nosniff", reply.status


def test_every_auth_answer_is_no_store(http: Http, admin: str) -> None:
    replies = [
        http.call("GET", "/auth/me", token=admin),
        http.call("GET", "/auth/me"),  # the gateway's 401
        http.call("POST", "/auth/login", {"email": "nobody@example.com", "password": "x" * 8}),
        http.call("OPTIONS", "/auth/login"),
    ]
    assert [r.status for r in replies] == [200, 401, 401, 204]
    for reply in replies:
        assert reply.headers["Cache-Control"] == "no-store", reply.status
    assert "Cache-Control" not in http.call("GET", "/health").headers
