"""One way to declare a route: its roles, body, query and response in one decorator.

    @products.route("/products", "POST", roles=ADMIN, body=ProductIn, response=ProductOut,
                    status=201)
    def create_product(call): ...

The same declarations build the OpenAPI document (`chalicelib.api.openapi`), so it cannot drift.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chalice import AuthResponse, Blueprint, Response
from pydantic import BaseModel, ValidationError

from chalicelib import observability
from chalicelib.auth.tokens import InvalidToken, verify_access_token
from chalicelib.errors import AppError, Busy, Forbidden, InvalidJson, NotFound, ValidationFailed
from chalicelib.inventory import idempotency
from chalicelib.inventory.idempotency import Intent
from chalicelib.schemas import ID_PATTERN, SKU_PATTERN
from chalicelib.store import db
from chalicelib.vocabulary import Caller, Role

log = logging.getLogger("automart")

ANYONE: tuple[Role, ...] = ()
PATH_PATTERNS = {"id": ID_PATTERN, "sku": SKU_PATTERN}
ANY_ROLE = tuple(Role)
ADMIN = (Role.ADMIN,)
ADMIN_STAFF = (Role.ADMIN, Role.STAFF)

# API Gateway caches an authorizer's answer per token for this long. 0: an expired token is
# refused at once, at the price of one authorizer call per request.
AUTHORIZER_TTL_SECONDS = 0

guard = Blueprint(__name__)


@guard.authorizer(ttl_seconds=AUTHORIZER_TTL_SECONDS)
def jwt_auth(auth_request: Any) -> AuthResponse:
    """The JWT Lambda authorizer.

    Raising "Unauthorized" is how API Gateway is told to answer 401."""
    token = auth_request.token or ""
    scheme, _, value = token.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Exception("Unauthorized")
    try:
        caller = verify_access_token(value.strip())
    except InvalidToken:
        raise Exception("Unauthorized") from None
    return AuthResponse(routes=["*"], principal_id=caller.id, context={"role": caller.role})


@dataclass
class RouteSpec:
    path: str
    method: str
    roles: tuple[Role, ...]
    summary: str
    tag: str
    status: int
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    idempotent: bool = False
    errors: tuple[int, ...] = ()
    path_patterns: dict[str, str] = field(default_factory=dict)
    uses_store: bool = True


ROUTES: list[RouteSpec] = []


@dataclass
class Call:
    """What a view gets: the caller, the validated body and query, path parameters, headers,
    and for an idempotent route the intent its Idempotency-Key and body make."""

    caller: Caller | None
    body: Any
    query: Any
    params: dict[str, str]
    headers: dict[str, str]
    intent: Intent | None = None

    @property
    def me(self) -> Caller:
        assert self.caller is not None, "route declared without roles"
        return self.caller

    @property
    def wanted(self) -> Intent:
        assert self.intent is not None, "route declared without idempotent=True"
        return self.intent


def _field_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(part) for part in err["loc"]) or "body", "message": err["msg"]}
        for err in exc.errors(include_url=False)
    ]


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def parse_body(model: type[BaseModel], raw: str | bytes | None) -> BaseModel:
    try:
        # NaN and Infinity are Python's extensions, not JSON. Nesting deep enough to exhaust the
        # recursion limit is a client's doing too: both are invalid JSON, never a 500.
        data = json.loads(raw or b"", parse_float=Decimal, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidJson() from None
    if not isinstance(data, dict):
        raise ValidationFailed(details=[{"field": "body", "message": "must be a JSON object"}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(details=_field_errors(exc)) from None


def sent_fields(body: BaseModel) -> dict[str, Any]:
    """The fields a PATCH body sent. An explicit null is a client error, not "leave unchanged"
    (the document says these fields may be left out, not that they take null)."""
    sent = body.model_dump(exclude_unset=True)
    nulls = [name for name, value in sent.items() if value is None]
    if nulls:
        raise ValidationFailed(details=[{"field": n, "message": "may not be null"} for n in nulls])
    return sent


def parse_query(model: type[BaseModel], params: Mapping[str, str] | None) -> BaseModel:
    try:
        return model.model_validate(params or {})
    except ValidationError as exc:
        raise ValidationFailed(details=_field_errors(exc)) from None


def _caller(request: Any) -> Caller:
    context = (request.context or {}).get("authorizer") or {}
    return Caller(id=context["principalId"], role=Role(context["role"]))


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":")) if body is not None else "",
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error_response(error: AppError) -> Response:
    return json_response(error.body(), error.status, error.headers)


def _intent(call: Call, spec: RouteSpec) -> Intent:
    """The marker key is the caller's, the resource's and the key's. The resource is the path
    without its slash ("sales-orders", the form every stored marker has), with its parameters
    ("sales-orders/01J.../returns"): one key on two orders' returns is two requests."""
    key = idempotency.validate_key(call.headers.get("idempotency-key"))
    resource = spec.path.format(**call.params).lstrip("/")
    return idempotency.intent(call.me.id, resource, key, call.body.model_dump(mode="json"))


def _render(result: Any, spec: RouteSpec) -> Response:
    if isinstance(result, Response):
        return result
    status = spec.status
    if isinstance(result, tuple):  # (body, status): a replayed idempotent create answers 200
        result, status = result
    if result is None:
        return Response(body="", status_code=status, headers={})
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    return json_response(result, status)


class Resource:
    """A Chalice blueprint whose routes are declared with their roles and schemas."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.blueprint = Blueprint(f"chalicelib.api.{tag}")

    def route(
        self,
        path: str,
        method: str,
        *,
        roles: tuple[Role, ...],
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        idempotent: bool = False,
        errors: tuple[int, ...] = (),
        path_patterns: dict[str, str] | None = None,
        uses_store: bool = True,
    ) -> Callable[[Callable], Callable]:
        # Path parameters get the pattern of their name (one table for every route).
        declared = {
            name: PATH_PATTERNS[name]
            for name in re.findall(r"{(\w+)}", path)
            if name in PATH_PATTERNS
        }
        spec = RouteSpec(
            path,
            method,
            roles,
            summary,
            self.tag,
            status,
            body,
            query,
            response,
            idempotent,
            errors,
            {**declared, **(path_patterns or {})},
            uses_store,
        )
        ROUTES.append(spec)
        blueprint = self.blueprint
        path_res = {name: re.compile(pattern) for name, pattern in spec.path_patterns.items()}

        def decorate(view: Callable[[Call], Any]) -> Callable:
            @functools.wraps(view)
            def handler(**params: str) -> Response:
                request = blueprint.current_request
                try:
                    caller = _caller(request) if roles else None
                    observability.bind_request(request, caller.id if caller else None)
                    if caller is not None and caller.role not in roles:
                        raise Forbidden()
                    # A path value that breaks its declared pattern names nothing; checking it
                    # here also keeps keys DynamoDB would refuse (a 500) away from the tables.
                    for name, pattern in path_res.items():
                        if not pattern.fullmatch(params.get(name, "")):
                            raise NotFound(f"Nothing has this {name}")
                    call = Call(
                        caller=caller,
                        body=parse_body(body, request.raw_body) if body else None,
                        query=parse_query(query, request.query_params) if query else None,
                        params=params,
                        headers={k.lower(): v for k, v in (request.headers or {}).items()},
                    )
                    if idempotent:
                        call.intent = _intent(call, spec)
                    if uses_store:
                        db.bind()  # once per container; every model then has its table
                    return _render(view(call), spec)
                except AppError as error:
                    # One metric for every refusal; the code dimension names it
                    # (insufficient_stock, too_many_attempts, ...).
                    observability.metric("Rejections", code=error.code)
                    return error_response(error)
                except Exception as exc:
                    if db.is_unavailable(exc):
                        log.warning("DynamoDB unavailable on %s %s: %s", method, path, exc)
                        observability.metric("Rejections", code=Busy.code)  # as a Busy raised
                        return error_response(Busy())
                    log.exception("unhandled error on %s %s", method, path)
                    return json_response(
                        {"code": "internal_error", "message": "Something went wrong on our side"},
                        500,
                    )

            blueprint.route(
                path,
                methods=[method],
                authorizer=jwt_auth if roles else None,
                content_types=[
                    "application/json",
                    "text/plain",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data",
                    "application/octet-stream",
                ],
            )(handler)
            return view

        return decorate
