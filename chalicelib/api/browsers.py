"""What browsers are told: security headers on every answer, CORS for the allowed origins
(`CORS_ORIGINS`, exact origins), and a preflight answer for every declared path.

The one place for these rules. The app applies them through `add_headers` (an HTTP middleware,
so the application's errors and chalice's own 405 get them too); the local gateway shim
(infra/gateway_shim.py) calls `headers_for` for the answers it makes itself; the deployed
gateway's own answers take their values from `security_headers` and `cors_headers`
(infra/template.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.api.routing import RouteSpec

HSTS = "max-age=31536000; includeSubDomains"
# What a page's script may read of an answer besides the CORS-safelisted headers: Retry-After of
# a 429 or 503, Allow of a 405, Location of a create.
EXPOSED_HEADERS = ("Retry-After", "Allow", "Location")
ALLOWED_REQUEST_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key")
# How long a browser may reuse a preflight answer: each preflight is a Lambda call when deployed.
PREFLIGHT_MAX_AGE_SECONDS = 600


def security_headers(*, no_store: bool, deployed: bool) -> dict[str, str]:
    headers = {"X-Content-Type-Options": "nosniff"}
    if no_store:  # tokens and account data must not stay in a cache
        headers["Cache-Control"] = "no-store"
    if deployed:  # HTTPS only there; HSTS over the local stack's plain HTTP means nothing
        headers["Strict-Transport-Security"] = HSTS
    return headers


def cors_headers(origin: str) -> dict[str, str]:
    """For an origin that is allowed (never "*": only the listed origins may read answers)."""
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": ", ".join(EXPOSED_HEADERS),
        "Vary": "Origin",
    }


def is_account_path(path: str) -> bool:
    return path == "/auth" or path.startswith("/auth/")


def headers_for(path: str, origin: str | None) -> dict[str, str]:
    """Every header rule for an answer to `path` requested from `origin` (None: no Origin)."""
    settings = get_settings()
    headers = security_headers(no_store=is_account_path(path), deployed=settings.stage != "local")
    if settings.cors_origins:
        # The answer depends on Origin whether or not this one is allowed: a shared cache must
        # not hand an answer without Access-Control-Allow-Origin to an allowed origin.
        headers["Vary"] = "Origin"
        if origin in settings.cors_origins:
            headers.update(cors_headers(origin))
    return headers


def origin_of(headers: Mapping[str, str] | None) -> str | None:
    """The Origin header, whatever the case of its name (chalice local keeps the client's)."""
    return next((v for k, v in (headers or {}).items() if k.lower() == "origin"), None)


def add_headers(request: Any, get_response: Callable[[Any], Response]) -> Response:
    """The app's HTTP middleware: the rules above on every answer of the function."""
    response = get_response(request)
    path = getattr(request, "path", "") or ""
    origin = origin_of(getattr(request, "headers", None))
    response.headers.update(headers_for(path, origin))
    return response


def preflight(routes: Iterable[RouteSpec]) -> Blueprint:
    """OPTIONS on every path of `routes` (routing.ROUTES), answered without an authorizer.

    Built once every blueprint has declared its routes. Declared here, not through
    Resource.route, so the OpenAPI document does not list them. An explicit OPTIONS view is also
    what chalice local answers with (it only makes up a preflight for paths that have none)."""
    methods: dict[str, list[str]] = {}
    for spec in routes:
        methods.setdefault(spec.path, []).append(spec.method)
    blueprint = Blueprint(__name__)

    def answer(**params: str) -> Response:
        request = blueprint.current_request
        allowed = ", ".join([*methods[request.path], "OPTIONS"])
        headers: dict[str, str | list[str]] = {"Allow": allowed}
        if origin_of(request.headers) in get_settings().cors_origins:
            headers["Access-Control-Allow-Methods"] = allowed
            headers["Access-Control-Allow-Headers"] = ", ".join(ALLOWED_REQUEST_HEADERS)
            headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
        # The origin headers come from add_headers, like on every answer.
        return Response(body="", status_code=204, headers=headers)

    for path in methods:
        blueprint.route(path, methods=["OPTIONS"], name="preflight")(answer)
    return blueprint
