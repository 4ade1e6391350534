"""The /docs page in a real browser: Debian's Chromium driven by Playwright against the local stack.

Swagger UI must render from the app's own assets (no request leaves the machine), list every
endpoint of the contract, and "Try it out" -> "Execute" on GET /health must show 200. Never
skipped: without Chromium the test fails and says how to install it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.stack import Stack, start_stack, stop_stack

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# The flags this machine needs (no GPU, no network but loopback, nothing phoning home).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000

# Every endpoint of the contract (API.md, Endpoints).
CONTRACT = {
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/logout"),
    ("GET", "/auth/me"),
    ("POST", "/users"),
    ("GET", "/users"),
    ("GET", "/users/{id}"),
    ("PATCH", "/users/{id}"),
    ("GET", "/products"),
    ("POST", "/products"),
    ("GET", "/products/{sku}"),
    ("PUT", "/products/{sku}"),
    ("PATCH", "/products/{sku}"),
    ("DELETE", "/products/{sku}"),
    ("GET", "/products/{sku}/movements"),
    ("POST", "/sales-orders"),
    ("GET", "/sales-orders"),
    ("GET", "/sales-orders/{id}"),
    ("DELETE", "/sales-orders/{id}"),
    ("POST", "/purchase-orders"),
    ("GET", "/purchase-orders"),
    ("GET", "/purchase-orders/{id}"),
    ("DELETE", "/purchase-orders/{id}"),
    ("GET", "/notifications"),
    ("GET", "/notifications/{id}"),
    ("DELETE", "/notifications/{id}"),
    ("POST", "/notifications/check"),
}


def require_chromium() -> str:
    path = shutil.which(CHROMIUM) or (CHROMIUM if os.access(CHROMIUM, os.X_OK) else None)
    if path is None:
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's package "
            "(apt-get install -y chromium; .ci/run does) or set CHROMIUM to its path",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def docs_stack() -> Iterator[Stack]:
    stack = start_stack("moto")
    yield stack
    assert stop_stack(stack) == 0


@pytest.fixture()
def page(tmp_path: Path, docs_stack: Stack) -> Iterator[tuple[object, list[str]]]:
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=TIMEOUT_MS,
        )
        try:

            def keep_local(route, request) -> None:  # type: ignore[no-untyped-def]
                if urlsplit(request.url).hostname in ("127.0.0.1", "localhost"):
                    route.continue_()
                else:
                    outside.append(request.url)
                    route.abort()

            context.route("**/*", keep_local)
            tab = context.new_page()
            tab.set_default_timeout(TIMEOUT_MS)
            yield tab, outside
        finally:
            context.close()


def test_docs_page_lists_the_contract_and_executes_health(page, docs_stack: Stack) -> None:
    tab, outside = page
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    response = tab.goto(f"{docs_stack.base_url}/docs")
    assert response is not None and response.status == 200

    # Swagger UI has rendered the document: its title and the operations are on the page.
    tab.wait_for_selector(".swagger-ui .info .title")
    tab.wait_for_selector(".opblock")
    listed = set()
    for block in tab.query_selector_all(".opblock"):
        method = block.query_selector(".opblock-summary-method").inner_text().strip().upper()
        path = block.query_selector(".opblock-summary-path").get_attribute("data-path")
        listed.add((method, path))
    assert CONTRACT - listed == set(), f"missing from the docs page: {sorted(CONTRACT - listed)}"

    # Try it out -> Execute on GET /health, in the page, against the running API.
    health = tab.locator(".opblock-get", has=tab.locator('[data-path="/health"]'))
    health.locator(".opblock-summary").first.click()
    health.locator("button.try-out__btn").click()
    health.locator("button.execute").click()
    status = health.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    body = health.locator(".live-responses-table .response-col_description pre").first
    assert '"status"' in body.inner_text() and '"ok"' in body.inner_text()

    if os.environ.get("DOCS_SCREENSHOT"):
        tab.screenshot(path=os.environ["DOCS_SCREENSHOT"], full_page=False)
    assert not errors, f"script errors on the page: {errors}"
    assert not outside, f"the docs page reached outside the machine: {outside}"
