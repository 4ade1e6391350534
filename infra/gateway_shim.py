"""Make `chalice local` and `chalice.test.Client` answer like API Gateway does for AutoMart.

Used by the local stack runner and the test helpers only, never by the deployed code:
- an authorizer that raises "Unauthorized" gives 401 (chalice crashes instead), with the body the
  deployed API's GatewayResponse template gives (see infra/template);
- an unknown path gives 404 `not_found` (GatewayResponse MISSING_AUTHENTICATION_TOKEN);
- a method the path does not have gives 405 `method_not_allowed` in the app's error shape with
  an `Allow` header, whatever the method: chalice's own 405 has another body, and methods
  chalice local has no do_<METHOD> for (TRACE, QUERY, ...) got http.server's 501 HTML page
  (API Gateway never passes an undeclared method to the function: it answers 4xx itself);
- the gateway's own answers (those 401 and 404, any other it makes) carry the headers every
  answer of the app carries (security headers, CORS for an allowed origin), from the same
  function (chalicelib/api/browsers.py); the 405 is the app's answer and has them already;
- the HTTP server queues enough connections for 64 concurrent clients (chalice's default is 5).

OPTIONS: chalice local makes up a preflight answer only for a path without an OPTIONS view; the
app declares one on every path (browsers.preflight), so the app's view answers.
"""

from __future__ import annotations

import json
from typing import Any

from chalice import local

from chalicelib.api import browsers
from chalicelib.errors import MethodNotAllowed, NotFound, Unauthorized

UNAUTHORIZED_BODY = json.dumps(Unauthorized("Missing or invalid access token").body()).encode()
NOT_FOUND_BODY = json.dumps(NotFound("No such route").body()).encode()
# The Allow header (kept from chalice's answer) names the path's methods.
METHOD_NOT_ALLOWED_BODY = json.dumps(MethodNotAllowed().body())
REQUEST_QUEUE_SIZE = 128


class _NotFoundError(local.LocalGatewayException):
    CODE = 404


def _json_headers(error: local.LocalGatewayException) -> dict:
    return {**error.headers, "Content-Type": "application/json"}


def _as_api_gateway(error: local.LocalGatewayException) -> local.LocalGatewayException:
    """An unknown path: chalice local answers 403, API Gateway 404 (our GatewayResponse)."""
    if (
        isinstance(error, local.ForbiddenError)
        and error.headers.get("x-amzn-ErrorType") == "UnauthorizedException"
    ):
        return _NotFoundError(_json_headers(error), NOT_FOUND_BODY)
    return error


def _with_browser_headers(
    error: local.LocalGatewayException, path: str, request_headers: dict | None
) -> local.LocalGatewayException:
    """The gateway's own answers carry what every answer of the app carries."""
    rules = browsers.headers_for(path.split("?")[0], browsers.origin_of(request_headers))
    error.headers = {**error.headers, **rules}
    return error


def _is_chalice_405(response: dict) -> bool:
    """Chalice's router answer for a method the path has no view for."""
    if response.get("statusCode") != 405:
        return False
    try:
        return json.loads(response.get("body") or "").get("Code") == "MethodNotAllowedError"
    except (ValueError, AttributeError):
        return False


def _any_method(self: Any, name: str) -> Any:
    """http.server dispatches METHOD to do_METHOD and answers 501 when there is none: send
    every method through chalice's gateway like GET, so an undeclared one gets its 405."""
    if name.startswith("do_"):
        return self._generic_handle
    raise AttributeError(name)


def install() -> None:
    if getattr(local, "_automart_shim", False):
        return
    original_authorize = local.LocalGatewayAuthorizer.authorize
    original_handle = local.LocalGateway.handle_request

    def authorize(self, raw_path, lambda_event, lambda_context):
        try:
            return original_authorize(self, raw_path, lambda_event, lambda_context)
        except local.NotAuthorizedError as error:
            raise local.NotAuthorizedError(_json_headers(error), UNAUTHORIZED_BODY) from None
        except Exception as error:
            if str(error) != "Unauthorized":
                raise
            raise local.NotAuthorizedError(
                {"x-amzn-ErrorType": "UnauthorizedException", "Content-Type": "application/json"},
                UNAUTHORIZED_BODY,
            ) from None

    def handle_request(self, method, path, headers, body):
        try:
            response = original_handle(self, method, path, headers, body)
        except local.LocalGatewayException as error:
            raise _with_browser_headers(_as_api_gateway(error), path, headers) from None
        if _is_chalice_405(response):
            headers = {**response.get("headers", {}), "Content-Type": "application/json"}
            response = {**response, "headers": headers, "body": METHOD_NOT_ALLOWED_BODY}
        return response

    local.LocalGatewayAuthorizer.authorize = authorize  # type: ignore[method-assign]
    local.LocalGateway.handle_request = handle_request  # type: ignore[method-assign]
    local.ChaliceRequestHandler.__getattr__ = _any_method
    local.ThreadedHTTPServer.request_queue_size = REQUEST_QUEUE_SIZE
    local._automart_shim = True  # type: ignore[attr-defined]
