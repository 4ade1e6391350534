"""Domain errors, and the one place that maps them to HTTP (see `to_response`)."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status = 400
    code = "bad_request"
    message = "Bad request"
    default_headers: dict[str, str] = {}

    def __init__(
        self,
        message: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details
        self.headers = {**self.default_headers, **(headers or {})}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


def _error(
    name: str, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> type[AppError]:
    attributes = {"status": status, "code": code, "message": message}
    return type(name, (AppError,), {**attributes, "default_headers": headers or {}})


ValidationFailed = _error("ValidationFailed", 400, "validation_error", "The request is not valid")
InvalidJson = _error("InvalidJson", 400, "invalid_json", "The body is not valid JSON")
DuplicateSku = _error("DuplicateSku", 400, "duplicate_sku", "The same sku appears twice")
Unauthorized = _error("Unauthorized", 401, "unauthorized", "Missing or invalid token")
InvalidCredentials = _error(
    "InvalidCredentials", 401, "invalid_credentials", "Wrong email or password"
)
# The same code as a failed login, but 403: the caller is authenticated, the proof is wrong.
WrongPassword = _error("WrongPassword", 403, "invalid_credentials", "The current password is wrong")
InvalidResetCode = _error(
    "InvalidResetCode",
    400,
    "invalid_reset_code",
    "This reset code is not valid; request a new one",
)
Forbidden = _error("Forbidden", 403, "forbidden", "Your role may not do this")
NotFound = _error("NotFound", 404, "not_found", "Not found")
MethodNotAllowed = _error(
    "MethodNotAllowed", 405, "method_not_allowed", "This path does not support this method"
)
SkuExists = _error("SkuExists", 409, "sku_exists", "A product with this sku exists")
EmailTaken = _error("EmailTaken", 409, "email_taken", "This email is already registered")
InsufficientStock = _error("InsufficientStock", 409, "insufficient_stock", "Not enough stock")
IdempotencyKeyReused = _error(
    "IdempotencyKeyReused",
    409,
    "idempotency_key_reused",
    "This Idempotency-Key was used with a different request",
)
LastAdmin = _error("LastAdmin", 409, "last_admin", "This would leave no active admin")
StockChanged = _error(
    "StockChanged", 409, "stock_changed", "The stock is no longer what you expected"
)
ReturnExceedsOrder = _error(
    "ReturnExceedsOrder",
    409,
    "return_exceeds_order",
    "More units than the order has left to return",
)
HoldNotActive = _error(
    "HoldNotActive", 409, "hold_not_active", "This hold was already converted or released"
)
HoldExpired = _error("HoldExpired", 409, "hold_expired", "This hold has expired")
UnknownSku = _error("UnknownSku", 422, "unknown_sku", "Unknown sku")
UnknownCustomer = _error("UnknownCustomer", 422, "unknown_customer", "No user has this id")
TooManyAttempts = _error(
    "TooManyAttempts",
    429,
    "too_many_attempts",
    "Too many failed logins for this account; try again later",
)
# Every 503 tells the client when to try again.
Busy = _error(
    "Busy", 503, "busy", "The service is busy; retry shortly", headers={"Retry-After": "1"}
)

# Every code a client can meet, for the OpenAPI document.
ERROR_CODES = sorted({cls.code for cls in AppError.__subclasses__()})
