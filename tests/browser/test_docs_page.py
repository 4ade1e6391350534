"""The /docs page in a real browser: Debian's Chromium driven by Playwright against the local stack.

Swagger UI must render from the app's own assets (no request leaves the machine), list every
endpoint of the contract, and "Try it out" -> "Execute" on GET /health must show 200.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chromium import local_browser
from tests.stack import Stack

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


@pytest.fixture()
def page(tmp_path: Path, browser_stack: Stack) -> Iterator[tuple[object, list[str]]]:
    with local_browser(tmp_path / "profile") as (context, outside):
        yield context.new_page(), outside


def test_docs_page_lists_the_contract_and_executes_health(page, browser_stack: Stack) -> None:
    tab, outside = page
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    response = tab.goto(f"{browser_stack.base_url}/docs")
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
