"""Methods a path does not have, over HTTP: 405 in the API's error shape with `Allow`, also for
TRACE and methods no server knows (the local server answered those with http.server's 501)."""

from __future__ import annotations

import pytest

from tests.stack import Http


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/health", {"GET"}),
        ("QUERY", "/products", {"GET", "POST"}),
        ("FOO", "/products/SOME-SKU", {"GET", "PUT", "PATCH", "DELETE"}),
        ("PUT", "/health", {"GET"}),  # one chalice local has a handler for: the same answer
    ],
)
def test_a_method_the_path_does_not_have_is_405_json(
    http: Http, admin: str, method: str, path: str, allowed: set[str]
) -> None:
    reply = http.call(method, path, token=admin)
    assert reply.status == 405, reply.body
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json["code"] == "method_not_allowed" and reply.json["message"], reply.body
    assert allowed <= {m.strip() for m in reply.headers["Allow"].split(",")}


def test_an_unknown_method_on_an_unknown_path_is_404(http: Http) -> None:
    reply = http.call("TRACE", "/no-such-path")
    assert reply.status == 404 and reply.json["code"] == "not_found", reply.body
