"""The Postman collection made from /openapi.json works against the API as it is.

The live document of a fresh local stack is converted with openapi-to-postmanv2 (the converter
Postman's own import uses) and the collection run with newman as admin. Every request sends the
document's examples: none may be refused as invalid (400 `validation_error` or `invalid_json`),
none may be a 5xx. Any other answer is fine: the example id names nothing (404), the example
refresh token or reset code is not a real one (401, 400 `invalid_reset_code`), the example
product was deleted by an earlier request (422 `unknown_sku`).

Both tools are npm devDependencies (`make node-deps`); the test fails, never skips, without them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack import ROOT, Stack, start_stack, stop_stack

BIN = ROOT / "node_modules" / ".bin"
# Example values instead of `<string>` placeholders, optional parameters sent too: every example
# of the document goes out. Except a cursor: only one the server made is valid (any other is a
# 400), so the document gives it no example and the test unticks it, as a Postman user would.
CONVERTER_OPTIONS = "parametersResolution=Example"
UNSENT = {"cursor"}
REFUSED_AS_INVALID = {"validation_error", "invalid_json"}
TIMEOUT_SECONDS = 120


def tool(name: str) -> str:
    path = BIN / name
    if shutil.which("node") is None or not path.exists():
        pytest.fail(f"{path} (and node) needed: run `make node-deps`", pytrace=False)
    return str(path)


@pytest.fixture(scope="module")
def postman_stack() -> Iterator[Stack]:
    stack = start_stack("moto")
    yield stack
    assert stop_stack(stack) == 0


def requests_of(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The collection's requests, out of their folders."""
    for item in items:
        if "item" in item:
            yield from requests_of(item["item"])
        else:
            yield item


def label(method: str, path: list[str]) -> str:
    """`GET /users/{id}` from the collection's ["users", ":id"]."""
    parts = ["{" + part[1:] + "}" if part.startswith(":") else part for part in path]
    return f"{method} /" + "/".join(parts)


def body_of(response: dict[str, Any]) -> Any:
    try:
        return json.loads(bytes(response["stream"]["data"]))
    except ValueError:
        return None


def convert(document: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    spec, collection_file = tmp_path / "openapi.json", tmp_path / "collection.json"
    spec.write_text(json.dumps(document))
    subprocess.run(
        [tool("openapi2postmanv2"), "-s", spec, "-o", collection_file, "-O", CONVERTER_OPTIONS],
        check=True,
        capture_output=True,
        timeout=TIMEOUT_SECONDS,
    )
    collection = json.loads(collection_file.read_text())
    for item in requests_of(collection["item"]):
        for param in item["request"]["url"].get("query", []):
            param["disabled"] = param["key"] in UNSENT
    return collection


def assert_sends_the_examples(document: dict[str, Any], collection: dict[str, Any]) -> None:
    """One request per operation (a broken conversion cannot pass), each with the document's
    example body and every parameter's example."""
    operations = {
        f"{method.upper()} {path}": op
        for path, methods in document["paths"].items()
        for method, op in methods.items()
    }
    converted = {
        label(r["request"]["method"], r["request"]["url"]["path"]): r["request"]
        for r in requests_of(collection["item"])
    }
    assert set(converted) == set(operations)
    for name, request in converted.items():
        body = operations[name].get("requestBody")
        if body is not None:
            ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            example = document["components"]["schemas"][ref]["example"]
            assert json.loads(request["body"]["raw"]) == example, name
        sent = {
            (where, param["key"]): param["value"]
            for where, params in (
                ("path", request["url"].get("variable", [])),
                ("query", request["url"].get("query", [])),
                ("header", request.get("header", [])),
            )
            for param in params
            if not param.get("disabled")
        }
        for param in operations[name]["parameters"]:
            if param["name"] not in UNSENT:
                value = sent.get((param["in"], param["name"]))
                assert value == str(param["schema"]["example"]), (name, param["name"], value)


def run_newman(stack: Stack, collection: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    """The collection run as admin; every request's execution (request and response)."""
    collection_file, report_file = tmp_path / "run.json", tmp_path / "newman.json"
    collection_file.write_text(json.dumps(collection))
    run = subprocess.run(
        [
            tool("newman"),
            "run",
            collection_file,
            "--env-var",
            f"baseUrl={stack.base_url}",
            "--env-var",
            f"bearerToken={stack.admin_token()}",
            "--reporters",
            "json",
            "--reporter-json-export",
            report_file,
            "--timeout-request",
            "30000",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    # Non-zero also when a request got no answer at all (refused, timed out).
    assert run.returncode == 0 and report_file.exists(), run.stdout + run.stderr
    return json.loads(report_file.read_text())["run"]["executions"]


def test_the_postman_collection_runs_without_a_refused_example(
    postman_stack: Stack, tmp_path: Path
) -> None:
    reply = postman_stack.http.call("GET", "/openapi.json")
    assert reply.status == 200
    document = reply.json
    collection = convert(document, tmp_path)
    assert_sends_the_examples(document, collection)
    executions = run_newman(postman_stack, collection, tmp_path)
    assert len(executions) == sum(len(methods) for methods in document["paths"].values())

    answers = []
    refused = []
    for execution in executions:
        request, response = execution["request"], execution["response"]
        name = label(request["method"], request["url"]["path"])
        status, body = response["code"], body_of(response)
        answers.append(f"{name} {status}")
        code = body.get("code") if isinstance(body, dict) else None
        if status >= 500 or (status == 400 and code in REFUSED_AS_INVALID):
            refused.append(f"{name}: {status} {json.dumps(body)[:300]}")
    assert refused == [], "\n".join(refused)
    statuses = Counter(execution["response"]["code"] for execution in executions)
    print(f"\nnewman: {len(executions)} requests, statuses {dict(sorted(statuses.items()))}")
    print("\n".join(answers))
