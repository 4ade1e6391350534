"""Routes: /health, /openapi.json, /docs (Swagger UI served from the swagger-ui-bundle package)."""

from __future__ import annotations

import os
from functools import cache

from chalice import Response

from chalicelib.api.routing import ANYONE, Call, Resource, json_response
from chalicelib.errors import NotFound
from chalicelib.schemas import Health

api = Resource("meta")

ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui-standalone-preset.js": "application/javascript",
}

# Relative URLs: they resolve under the API Gateway stage prefix too (/api/docs -> /api/docs/...).
# validatorUrl null: Swagger UI would otherwise send the document to validator.swagger.io.
DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AutoMart API</title>
<link rel="stylesheet" href="docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "BaseLayout",
  validatorUrl: null, persistAuthorization: true});
</script></body></html>
"""


@cache
def _asset(name: str) -> str:
    from swagger_ui_bundle import swagger_ui_path

    with open(os.path.join(swagger_ui_path, name), encoding="utf-8") as handle:
        return handle.read()


@api.route("/health", "GET", roles=ANYONE, uses_store=False, response=Health, summary="Liveness")
def health(call: Call) -> dict:
    return {"status": "ok"}


@api.route("/openapi.json", "GET", roles=ANYONE, uses_store=False, summary="This document")
def openapi(call: Call) -> Response:
    from chalicelib.api.openapi import document

    return json_response(document())


@api.route("/docs", "GET", roles=ANYONE, uses_store=False, summary="Swagger UI")
def docs(call: Call) -> Response:
    return Response(
        body=DOCS_HTML, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"}
    )


@api.route(
    "/docs/{asset}",
    "GET",
    roles=ANYONE,
    uses_store=False,
    errors=(404,),
    summary="Swagger UI assets",
)
def docs_asset(call: Call) -> Response:
    name = call.params["asset"]
    if name not in ASSETS:
        raise NotFound("No such asset")
    return Response(
        body=_asset(name),
        status_code=200,
        headers={"Content-Type": ASSETS[name], "Cache-Control": "public, max-age=86400"},
    )
