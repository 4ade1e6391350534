"""The OpenAPI 3 document, built from the declared routes and their pydantic models."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from chalicelib.api.meta import ASSETS
from chalicelib.api.routing import ROUTES, RouteSpec
from chalicelib.errors import ERROR_CODES
from chalicelib.inventory.idempotency import KEY_PATTERN
from chalicelib.schemas import ID_EXAMPLE, SKU_EXAMPLE, Error

REF = "#/components/schemas/{model}"
STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No content",
    400: "Invalid request",
    401: "Missing or invalid access token",
    403: "The role may not do this",
    404: "Not found",
    409: "Conflict",
    422: "Unprocessable",
    429: "Too many attempts",
    503: "Busy: retry after the Retry-After seconds",
}
# Every path parameter's example (request fields and query parameters have theirs in the models).
PATH_EXAMPLES = {
    "id": ID_EXAMPLE,
    "sku": SKU_EXAMPLE,
    "asset": next(iter(ASSETS)),
}  # the stylesheet
IDEMPOTENCY_KEY_EXAMPLE = "0b5e4f2a-7c1d-4e8b-9a36-2f4d6c8e1a70"  # a UUID, as clients make


def _error_statuses(spec: RouteSpec) -> list[int]:
    statuses = set(spec.errors)
    if spec.body or spec.query or spec.path_patterns or "{" in spec.path:
        statuses.add(400)
    if spec.roles:
        statuses |= {401, 403}
    if spec.body or spec.idempotent:
        statuses.add(503)
    if spec.idempotent:
        statuses.add(409)  # idempotency_key_reused
    if "{" in spec.path:
        statuses.add(404)
    return sorted(statuses)


def _parameters(spec: RouteSpec, query_schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    params = []
    for name in re.findall(r"{(\w+)}", spec.path):
        schema: dict[str, Any] = {"type": "string", "minLength": 1}
        if name in spec.path_patterns:
            schema["pattern"] = spec.path_patterns[name]
        if name in PATH_EXAMPLES:
            schema["example"] = PATH_EXAMPLES[name]
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if query_schema:
        required = set(query_schema.get("required", []))
        for name, schema in query_schema.get("properties", {}).items():
            params.append(
                {"name": name, "in": "query", "required": name in required, "schema": schema}
            )
    if spec.idempotent:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 128,
                    "pattern": KEY_PATTERN,
                    "example": IDEMPOTENCY_KEY_EXAMPLE,
                },
                "description": "Replays within 24 hours return the same result",
            }
        )
    return params


def _openapi30(node: Any) -> Any:
    """pydantic writes JSON Schema 2020-12; OpenAPI 3.0 wants its own dialect (found by
    schemathesis): a numeric `exclusiveMinimum` becomes `minimum` with `exclusiveMinimum: true`,
    an `anyOf` with a `{"type": "null"}` branch becomes `nullable: true`, and `examples` (a list)
    becomes `example` (one value), the only form 3.0 and Postman's converter know."""
    if isinstance(node, list):
        return [_openapi30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _openapi30(value) for key, value in node.items()}
    if isinstance(node.get("examples"), list):  # a list: not a property named "examples"
        node["example"] = node.pop("examples")[0]
    for bound, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node[bound], bool):
            node[inclusive] = node.pop(bound)
            node[bound] = True
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        del node["anyOf"]
        if len(rest) == 1 and not (set(rest[0]) & set(node)):
            node.update(rest[0])
        else:
            node["anyOf"] = rest
        node["nullable"] = True
    if "default" in node and node["default"] is None and not node.get("nullable"):
        del node["default"]  # "may be left out", not a null value the field does not take
    return node


def _name(ref: dict[str, str]) -> str:
    return ref["$ref"].removeprefix(REF.format(model=""))


def _example(schema: dict[str, Any], schemas: dict[str, Any]) -> Any:
    """A request body's example made of its fields' examples; an optional field without one is
    left out. Postman's converter and Swagger UI send an object's own example as it is (without
    it they would fill in the unexampled fields themselves). A required field without an example
    gives None, which the document's test names."""
    if "$ref" in schema:
        schema = schemas[_name(schema)]
    if "example" in schema:
        return schema["example"]
    if schema.get("type") == "array":
        return [_example(schema["items"], schemas)]
    if schema.get("type") != "object":
        return None
    required = set(schema.get("required", []))
    fields = {name: _example(prop, schemas) for name, prop in schema["properties"].items()}
    return {name: value for name, value in fields.items() if name in required or value is not None}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    models: set[type[BaseModel]] = {Error}
    for spec in ROUTES:
        models |= {m for m in (spec.body, spec.response) if m is not None}
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]]
    pairs = [(m, "validation") for m in models if m in {s.body for s in ROUTES}]
    pairs += [(m, "serialization") for m in models if m not in {s.body for s in ROUTES}]
    refs, defs = models_json_schema(pairs, ref_template=REF)
    schemas = defs.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for spec in ROUTES:
        query_schema = spec.query.model_json_schema() if spec.query else None
        if query_schema:
            # Query strings are text: nullable defaults are plain optional parameters.
            for prop in query_schema.get("properties", {}).values():
                options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
                if options:
                    prop.update(options[0])
                prop.pop("default", None) if prop.get("default") is None else None
        op: dict[str, Any] = {
            "operationId": spec.summary
            and re.sub(r"\W+", "_", f"{spec.method}_{spec.path}").strip("_").lower(),
            "summary": spec.summary,
            "tags": [spec.tag],
            "parameters": _parameters(spec, query_schema),
            "responses": {},
        }
        if spec.roles:
            op["security"] = [{"bearer": []}]
            op["description"] = "Roles: " + ", ".join(spec.roles)
        else:
            op["security"] = []
        if spec.body:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(spec.body, "validation")]}},
            }
        ok: dict[str, Any] = {"description": STATUS_TEXT.get(spec.status, "OK")}
        if spec.response is not None:
            mode: JsonSchemaMode = (
                "validation" if spec.response in {s.body for s in ROUTES} else "serialization"
            )
            ok["content"] = {"application/json": {"schema": refs[(spec.response, mode)]}}
        op["responses"][str(spec.status)] = ok
        if spec.idempotent and spec.status == 201:
            op["responses"]["200"] = {**ok, "description": "A replay of an earlier request"}
        for status in _error_statuses(spec):
            op["responses"][str(status)] = {
                "description": STATUS_TEXT.get(status, "Error"),
                "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
            }
        paths.setdefault(spec.path, {})[spec.method.lower()] = op
    schemas["Error"]["properties"]["code"]["enum"] = ERROR_CODES + ["internal_error"]
    schemas = _openapi30(schemas)
    for body in {spec.body for spec in ROUTES if spec.body}:
        name = _name(refs[(body, "validation")])
        schemas[name]["example"] = _example(schemas[name], schemas)
    for path_item in paths.values():
        for op in path_item.values():
            for param in op["parameters"]:
                param["schema"] = _openapi30(param["schema"])
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "AutoMart API",
            "version": "1.0.0",
            "description": "Inventory and orders. Errors: {code, message, details?}.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
