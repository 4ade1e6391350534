"""/openapi.json describes every route the app serves, as API.md says; /docs works offline."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlparse

import pytest
from jsonschema import Draft4Validator
from openapi_spec_validator import validate

from chalicelib.errors import AppError
from tests.unit.helpers import PRODUCT_KEYS, Api, References

# Fixtures shared with test_auth (one moto per module, tables emptied between tests).

ANYONE, ANY_ROLE = "anyone", "admin, staff, customer"
ADMIN, ADMIN_STAFF = "admin", "admin, staff"

# API.md's endpoint table: (method, path) -> (who, success status, takes a JSON body).
# "owner, admin" routes are open to every role at the gateway; ownership is checked inside.
CONTRACT: dict[tuple[str, str], tuple[str, int, bool]] = {
    ("GET", "/health"): (ANYONE, 200, False),
    ("GET", "/openapi.json"): (ANYONE, 200, False),
    ("GET", "/docs"): (ANYONE, 200, False),
    ("GET", "/docs/{asset}"): (ANYONE, 200, False),
    ("GET", "/console"): (ANYONE, 200, False),
    ("GET", "/console/{asset}"): (ANYONE, 200, False),
    ("POST", "/auth/register"): (ANYONE, 201, True),
    ("POST", "/auth/login"): (ANYONE, 200, True),
    ("POST", "/auth/refresh"): (ANYONE, 200, True),
    ("POST", "/auth/logout"): (ANY_ROLE, 204, True),
    ("GET", "/auth/me"): (ANY_ROLE, 200, False),
    ("PATCH", "/auth/me"): (ANY_ROLE, 200, True),
    ("POST", "/auth/password"): (ANY_ROLE, 200, True),
    ("POST", "/auth/password-reset"): (ANYONE, 202, True),
    ("POST", "/auth/password-reset/confirm"): (ANYONE, 200, True),
    ("POST", "/users"): (ADMIN, 201, True),
    ("GET", "/users"): (ADMIN, 200, False),
    ("GET", "/users/{id}"): (ADMIN, 200, False),
    ("PATCH", "/users/{id}"): (ADMIN, 200, True),
    ("POST", "/users/{id}/password-reset"): (ADMIN, 202, False),
    ("GET", "/products"): (ANY_ROLE, 200, False),
    ("POST", "/products"): (ADMIN, 201, True),
    ("GET", "/products/{sku}"): (ANY_ROLE, 200, False),
    ("PUT", "/products/{sku}"): (ADMIN, 200, True),
    ("PATCH", "/products/{sku}"): (ADMIN, 200, True),
    ("DELETE", "/products/{sku}"): (ADMIN, 204, False),
    ("GET", "/products/{sku}/movements"): (ADMIN_STAFF, 200, False),
    ("POST", "/products/{sku}/adjustments"): (ADMIN_STAFF, 201, True),
    ("POST", "/sales-orders"): (ANY_ROLE, 201, True),
    ("GET", "/sales-orders"): (ANY_ROLE, 200, False),
    ("GET", "/sales-orders/{id}"): (ANY_ROLE, 200, False),
    ("DELETE", "/sales-orders/{id}"): (ADMIN, 204, False),
    ("POST", "/sales-orders/{id}/returns"): (ADMIN_STAFF, 201, True),
    ("POST", "/holds"): (ANY_ROLE, 201, True),
    ("GET", "/holds"): (ANY_ROLE, 200, False),
    ("GET", "/holds/{id}"): (ANY_ROLE, 200, False),
    ("DELETE", "/holds/{id}"): (ANY_ROLE, 204, False),
    ("POST", "/holds/release-expired"): (ADMIN, 200, False),
    ("POST", "/purchase-orders"): (ADMIN_STAFF, 201, True),
    ("GET", "/purchase-orders"): (ADMIN_STAFF, 200, False),
    ("GET", "/purchase-orders/{id}"): (ADMIN_STAFF, 200, False),
    ("DELETE", "/purchase-orders/{id}"): (ADMIN, 204, False),
    ("GET", "/notifications"): (ADMIN, 200, False),
    ("GET", "/notifications/{id}"): (ADMIN, 200, False),
    ("DELETE", "/notifications/{id}"): (ADMIN, 204, False),
    ("POST", "/notifications/check"): (ADMIN, 200, False),
}


@pytest.fixture()
def app():
    from app import app as chalice_app

    return chalice_app


@pytest.fixture()
def doc(api: Api) -> dict:
    reply = api.call("GET", "/openapi.json")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/json")
    return reply.json


def served(app) -> dict[tuple[str, str], object]:
    """Every route but the preflights (OPTIONS on every path, API.md "Browsers"; test_cors)."""
    return {
        (method, path): entry
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        if method != "OPTIONS"
    }


def resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = doc["components"]["schemas"][name]
    return schema


def test_the_document_is_valid_openapi_3(doc):
    assert doc["openapi"].startswith("3.")
    validate(doc)


def test_the_app_serves_exactly_the_contract(app):
    assert set(served(app)) == set(CONTRACT)


def test_every_served_route_is_documented(app, doc):
    for method, path in served(app):
        assert method.lower() in doc["paths"].get(path, {}), f"{method} {path} not documented"
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == set(served(app))  # and nothing that is not served


def test_path_parameters_match_the_routes(app, doc):
    for (method, path), entry in served(app).items():
        op = doc["paths"][path][method.lower()]
        in_path = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        assert in_path == entry.view_args == re.findall(r"{(\w+)}", path), (method, path)
        assert all(p["required"] for p in op["parameters"] if p["in"] == "path")


def test_security_matches_the_contract_and_the_authorizer(app, doc):
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    for (method, path), entry in served(app).items():
        who = CONTRACT[(method, path)][0]
        op = doc["paths"][path][method.lower()]
        if who == ANYONE:
            assert entry.authorizer is None, (method, path)
            assert op["security"] == [], (method, path)
        else:
            assert entry.authorizer is not None and entry.authorizer.name == "jwt_auth"
            assert op["security"] == [{"bearer": []}], (method, path)
            assert op["description"].startswith(f"Roles: {who}"), (method, path, who)
            assert {"401", "403"} <= set(op["responses"]), (method, path)


def test_request_bodies_are_documented(app, doc):
    for method, path in served(app):
        takes_body = CONTRACT[(method, path)][2]
        op = doc["paths"][path][method.lower()]
        if not takes_body:
            assert "requestBody" not in op, (method, path)
            continue
        body = op.get("requestBody")
        assert body and body["required"], (method, path)
        schema = resolve(doc, body["content"]["application/json"]["schema"])
        assert schema["type"] == "object" and schema["properties"], (method, path)
        assert schema.get("additionalProperties") is False, (method, path)  # unknown: 400
        assert "400" in op["responses"], (method, path)


def test_success_statuses_and_shapes(app, doc):
    for method, path in served(app):
        status = CONTRACT[(method, path)][1]
        op = doc["paths"][path][method.lower()]
        assert str(status) in op["responses"], (method, path, status)
        others = {int(s) for s in op["responses"] if int(s) < 300} - {status}
        replayable = any(p["name"] == "Idempotency-Key" for p in op["parameters"])
        assert others == ({200} if replayable and status == 201 else set()), (method, path)
        if status == 204:
            assert "content" not in op["responses"]["204"], (method, path)
        for code, response in op["responses"].items():
            if int(code) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert resolve(doc, schema)["required"] == ["code", "message"]


def test_documented_schemas_match_the_contract_shapes(doc):
    def props(path: str, method: str, status: str = "200") -> set[str]:
        content = doc["paths"][path][method]["responses"][status]["content"]
        return set(resolve(doc, content["application/json"]["schema"])["properties"])

    user = {"id", "email", "name", "role", "active", "created_at"}
    product = PRODUCT_KEYS
    assert props("/auth/register", "post", "201") == user
    assert props("/auth/me", "get") == user
    assert props("/auth/login", "post") == {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
    }
    assert props("/products/{sku}", "get") == product
    assert props("/products", "get") == {"items", "next_cursor"}
    listed = doc["paths"]["/products"]["get"]["parameters"]
    limit = next(p for p in listed if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)
    assert {p["name"] for p in listed} == {"limit", "cursor", "sort", "q", "stock"}
    roles = {p["name"] for p in doc["paths"]["/users"]["get"]["parameters"]}
    assert roles == {"limit", "cursor", "role"}
    price = resolve(
        doc,
        doc["paths"]["/products/{sku}"]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ],
    )["properties"]["price"]
    assert price["type"] == "string"  # money out is a string with two decimals


# ---- examples: what Postman's converter and Swagger UI send (tests/contract/test_postman.py) ----

# A cursor is one the server made (any other is a 400): the only parameter without an example.
NO_EXAMPLE = {"cursor"}


def operations(doc: dict) -> Iterator[tuple[str, dict]]:
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            yield f"{method.upper()} {path}", op


def examples(node: Any, where: str) -> Iterator[tuple[str, dict]]:
    """Every schema in `node` that carries an example, with where it is."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from examples(item, f"{where}/{index}")
    elif isinstance(node, dict):
        if "example" in node:
            yield where, node
        for key, value in node.items():
            if key == "properties":  # field names, each with its schema
                for name, prop in value.items():
                    yield from examples(prop, f"{where}/properties/{name}")
            elif key != "example":  # an example is a value, not a schema
                yield from examples(value, f"{where}/{key}")


def test_every_body_parameter_and_header_has_an_example(doc):
    missing = []
    for label, op in operations(doc):
        if "requestBody" in op:
            body = resolve(doc, op["requestBody"]["content"]["application/json"]["schema"])
            if "example" not in body:
                missing.append(f"{label}: body")
        for param in op["parameters"]:
            documented = "example" in param["schema"]
            if documented == (param["name"] in NO_EXAMPLE):
                missing.append(f"{label}: {param['in']} {param['name']} example: {documented}")
    assert missing == []


def test_every_example_is_valid_against_its_own_schema(doc):
    """OpenAPI 3.0 schemas are JSON Schema draft 4 (boolean exclusiveMinimum) plus keywords the
    validator ignores (nullable, example); a $ref resolves against the document's components."""
    found = list(examples(doc, "#"))
    invalid = []
    for where, node in found:
        schema = {key: value for key, value in node.items() if key != "example"}
        validator = Draft4Validator(
            {**schema, "components": doc["components"]},
            format_checker=Draft4Validator.FORMAT_CHECKER,
        )
        invalid += [f"{where}: {error.message}" for error in validator.iter_errors(node["example"])]
    assert invalid == []
    bodies = {
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        for _, op in operations(doc)
        if "requestBody" in op
    }
    assert bodies <= {where for where, _ in found}  # the walk reached every body's example


def test_the_server_accepts_every_example(doc):
    """Valid against the schema is not enough: each body and query goes through the route's own
    parsing, each path value through its route's pattern, each email through the server's
    address check, the Idempotency-Key through its check."""
    from chalicelib.api.routing import ROUTES, parse_body, parse_query
    from chalicelib.auth.users import normalize_email
    from chalicelib.inventory.idempotency import validate_key

    refused = []
    for spec in ROUTES:
        label = f"{spec.method} {spec.path}"
        op = doc["paths"][spec.path][spec.method.lower()]
        sent = {
            p["name"]: p["schema"]["example"] for p in op["parameters"] if "example" in p["schema"]
        }
        in_query = {p["name"] for p in op["parameters"] if p["in"] == "query"}
        try:
            if spec.body:
                body = resolve(doc, op["requestBody"]["content"]["application/json"]["schema"])
                parse_body(spec.body, json.dumps(body["example"]))
            if spec.query:
                parse_query(spec.query, {name: str(sent[name]) for name in in_query & set(sent)})
            if spec.idempotent:
                validate_key(sent["Idempotency-Key"])
        except AppError as error:
            refused.append(f"{label}: {error.body()}")
        for name, pattern in spec.path_patterns.items():
            if not re.fullmatch(pattern, sent[name]):
                refused.append(f"{label}: path {name} {sent[name]!r}")
    for where, node in examples(doc, "#"):
        if node.get("format") == "email":
            try:
                normalize_email(node["example"])
            except AppError as error:
                refused.append(f"{where}: {error.body()}")
    assert refused == []


# ---- /docs -------------------------------------------------------------------------------------


EXPECTED_TYPES = {".css": "text/css", ".js": "application/javascript"}


def test_docs_page_uses_only_assets_the_app_serves(api, aws):
    page = api.call("GET", "/docs")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert "://" not in html and "//cdn" not in html  # nothing from elsewhere: works offline
    assert "validatorUrl: null" in html  # Swagger UI would call validator.swagger.io otherwise
    parser = References()
    parser.feed(html)
    assert len(parser.urls) >= 2
    base = "http://api.example/api/docs"  # behind a stage prefix, as in API Gateway
    for url in parser.urls:
        absolute = urlparse(urljoin(base, url))
        assert absolute.netloc == "api.example" and absolute.path.startswith("/api/docs/")
        reply = api.call("GET", absolute.path.removeprefix("/api"))
        assert reply.status == 200 and len(reply.body) > 1000, url
        suffix = url[url.rfind(".") :]
        assert reply.headers["Content-Type"].startswith(EXPECTED_TYPES[suffix]), url
    spec_url = re.search(r'url:\s*"([^"]+)"', html).group(1)
    assert urlparse(urljoin(base, spec_url)).path == "/api/openapi.json"


def test_unknown_docs_asset_is_404(api, aws):
    for name in ("nope.js", "..%2F..%2Fapp.py", "index.html"):
        reply = api.call("GET", f"/docs/{name}")
        assert reply.status == 404 and reply.json["code"] == "not_found", name
