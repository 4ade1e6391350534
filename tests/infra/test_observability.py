"""Structured logs and EMF metrics: JSON lines with the request and caller, secrets left out."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

from chalicelib import observability


def test_log_lines_are_json_with_request_and_caller_and_no_secrets(capsys) -> None:
    request = SimpleNamespace(context={"requestId": "req-1"}, lambda_context=None)
    observability.bind_request(request, "user-7")
    observability.log("login", email="a@example.com", password="hunter22", refresh_token="t")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["message"] == "login" and line["level"] == "INFO"
    assert line["request_id"] == "req-1" and line["caller_id"] == "user-7"
    assert line["password"] == line["refresh_token"] == "[redacted]"
    assert "hunter22" not in json.dumps(line)
    logging.getLogger("automart").handlers.clear()


def test_metric_is_one_embedded_metric_format_line(capsys) -> None:
    observability.metric("OrdersCreated")
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    spec = doc["_aws"]["CloudWatchMetrics"][0]
    assert spec["Namespace"] == "AutoMart"
    assert spec["Metrics"] == [{"Name": "OrdersCreated", "Unit": "Count"}]
    assert doc["OrdersCreated"] == 1 and all(d in doc for d in spec["Dimensions"][0])
