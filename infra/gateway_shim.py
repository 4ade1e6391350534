"""Make `chalice local` and `chalice.test.Client` answer like API Gateway does for AutoMart.

Used by the local stack runner and the test helpers only, never by the deployed code:
- an authorizer that raises "Unauthorized" gives 401 (chalice crashes instead), with the body the
  deployed API's GatewayResponse template gives (see infra/template);
- an unknown path gives 404 `not_found` (GatewayResponse MISSING_AUTHENTICATION_TOKEN);
- the HTTP server queues enough connections for 64 concurrent clients (chalice's default is 5).
"""

from __future__ import annotations

import json

from chalice import local

from chalicelib.errors import NotFound, Unauthorized

UNAUTHORIZED_BODY = json.dumps(Unauthorized("Missing or invalid access token").body()).encode()
NOT_FOUND_BODY = json.dumps(NotFound("No such route").body()).encode()
REQUEST_QUEUE_SIZE = 128


class _NotFoundError(local.LocalGatewayException):
    CODE = 404


def _json_headers(error: local.LocalGatewayException) -> dict:
    return {**error.headers, "Content-Type": "application/json"}


def install() -> None:
    if getattr(local, "_automart_shim", False):
        return
    original_authorize = local.LocalGatewayAuthorizer.authorize
    original_handle = local.LocalGateway.handle_request

    def authorize(self, raw_path, lambda_event, lambda_context):  # type: ignore[no-untyped-def]
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

    def handle_request(self, method, path, headers, body):  # type: ignore[no-untyped-def]
        try:
            return original_handle(self, method, path, headers, body)
        except local.ForbiddenError as error:
            if error.headers.get("x-amzn-ErrorType") == "UnauthorizedException":
                raise _NotFoundError(_json_headers(error), NOT_FOUND_BODY) from None
            raise

    local.LocalGatewayAuthorizer.authorize = authorize  # type: ignore[method-assign]
    local.LocalGateway.handle_request = handle_request  # type: ignore[method-assign]
    local.ThreadedHTTPServer.request_queue_size = REQUEST_QUEUE_SIZE
    local._automart_shim = True  # type: ignore[attr-defined]
