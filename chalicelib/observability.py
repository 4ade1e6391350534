"""Structured JSON logs and CloudWatch business metrics (embedded metric format), stdlib only.

    from chalicelib.observability import log, metric
    log("order created", order_id=order.id, lines=3)
    metric("OrdersCreated")            # one EMF line on stdout: CloudWatch makes it a metric

Every line carries the request id and the caller id of the request being served (set once per
request by the route wrapper in chalicelib/api/routing.py). Fields whose name looks like a secret
(password, token, secret, key, authorization) are never written.

aws-lambda-powertools would do the same; it is not used: it is one more dependency in the zip and
on every cold start, for a formatter and an EMF line this file does in a few dozen lines.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import time
from typing import Any

NAMESPACE = "AutoMart"
_SECRET = re.compile(r"pass|token|secret|key|authorization|cookie", re.IGNORECASE)
_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "automart_log", default=None
)

logger = logging.getLogger("automart")
_metrics_muted = False  # see mute_metrics


def redact(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: ("[redacted]" if _SECRET.search(k) else v) for k, v in fields.items()}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "time": round(record.created, 3),
            **(_context.get() or {}),
            **redact(getattr(record, "fields", {})),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def setup(level: int = logging.INFO) -> None:
    """Idempotent: one JSON handler on the "automart" logger."""
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    # On Lambda the root logger has the runtime's plain-text handler: one line each, not two.
    # Elsewhere (tests, chalice local) records still reach the root logger and pytest's caplog.
    logger.propagate = not os.environ.get("AWS_LAMBDA_FUNCTION_NAME")


def bind_request(request: Any, caller_id: str | None = None) -> None:
    """Remember the request id and caller id for every log line of this request."""
    setup()
    context = getattr(request, "context", None) or {}
    lambda_context = getattr(request, "lambda_context", None)
    fields = {
        "request_id": context.get("requestId")
        or getattr(lambda_context, "aws_request_id", None)
        or "-"
    }
    principal = caller_id or ((context.get("authorizer") or {}).get("principalId"))
    if principal:
        fields["caller_id"] = principal
    _context.set(fields)


def log(message: str, level: int = logging.INFO, **fields: Any) -> None:
    setup()
    logger.log(level, message, extra={"fields": fields})


def emf(name: str, value: float = 1, unit: str = "Count", **dimensions: str) -> dict[str, Any]:
    """The embedded-metric-format document of one data point."""
    from chalicelib.settings import get_settings

    dims = {"stage": get_settings().stage, **dimensions}
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [sorted(dims)],
                    "Metrics": [{"Name": name, "Unit": unit}],
                }
            ],
        },
        **dims,
        name: value,
        **(_context.get() or {}),
    }


def mute_metrics() -> None:
    """Send every metric of this process nowhere from now on: for the management command
    (infra/cli.py), whose stdout is its own output. Lambda never calls it: its metrics stay."""
    global _metrics_muted
    _metrics_muted = True


def metric(name: str, value: float = 1, unit: str = "Count", **dimensions: str) -> None:
    """A business metric: OrdersCreated, InsufficientStock, LowStockAlerts, EmailsSent, ..."""
    if _metrics_muted:
        return
    sys.stdout.write(json.dumps(emf(name, value, unit, **dimensions), separators=(",", ":")) + "\n")
