"""Routes: /console, the operator console (a single page), and its assets.

The page is static. Its scripts (chalicelib/console/*.js, ES modules: console.js the frame,
api.js the API client, one module per screen) use the public API like any other client. Files
are read on their first request, never at import, so the API's cold start does not pay for them.
The library (Preact with htm, one ES module) is copied from npm by the build step (`make
console`, run by `make run`, `make test` and `make package`).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from chalice import Response

from chalicelib.api.routing import ANYONE, Call, Resource
from chalicelib.errors import NotFound

api = Resource("console")

HERE = Path(__file__).resolve().parent.parent / "console"
PAGE = "index.html"
# An asset is a module or stylesheet of that directory: a plain name, so no path leaves it.
ASSET_NAME = re.compile(r"[a-z][a-z-]*\.(js|css)")
TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}
LIBRARY = "preact-htm.js"
# Only this origin: no inline script or style, no other host, no frames, no plugins.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


@cache
def _read(name: str) -> str:
    path = HERE / name
    if not path.is_file():
        built = " (`make console` copies it from npm)" if name == LIBRARY else ""
        raise NotFound(f"No such asset{built}")
    return path.read_text(encoding="utf-8")


def _file(name: str, content_type: str) -> Response:
    return Response(
        body=_read(name),
        status_code=200,
        headers={
            "Content-Type": content_type,
            # Revalidated every time: a deploy changes the modules, and they must stay one
            # version (the library's file name carries no version either).
            "Cache-Control": "no-cache",
            "Content-Security-Policy": CSP,
        },
    )


@api.route("/console", "GET", roles=ANYONE, uses_store=False, summary="The operator console")
def console(call: Call) -> Response:
    return _file(PAGE, "text/html; charset=utf-8")


@api.route(
    "/console/{asset}",
    "GET",
    roles=ANYONE,
    uses_store=False,
    errors=(404,),
    summary="The operator console's assets",
)
def console_asset(call: Call) -> Response:
    name = call.params["asset"]
    kind = ASSET_NAME.fullmatch(name)
    if kind is None:
        raise NotFound("No such asset")
    return _file(name, TYPES[kind[1]])
