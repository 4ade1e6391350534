"""Debian's Chromium driven by Playwright: the one setup of every browser test.

Never skipped: without Chromium a test fails and says how to install it. Every request that would
leave the machine is refused and recorded, so a test can assert that a page needs nothing else.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

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


def require_chromium() -> str:
    path = shutil.which(CHROMIUM) or (CHROMIUM if os.access(CHROMIUM, os.X_OK) else None)
    if path is None:
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's package "
            "(apt-get install -y chromium; .ci/run does) or set CHROMIUM to its path",
            pytrace=False,
        )
    return path


@contextmanager
def local_browser(profile: Path, **context_options: Any) -> Iterator[tuple[Any, list[str]]]:
    """A browser context that reaches only this machine; yields (context, outside requests)."""
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=TIMEOUT_MS,
            **context_options,
        )
        try:

            def keep_local(route, request) -> None:  # type: ignore[no-untyped-def]
                if urlsplit(request.url).hostname in ("127.0.0.1", "localhost"):
                    route.continue_()
                else:
                    outside.append(request.url)
                    route.abort()

            context.route("**/*", keep_local)
            context.set_default_timeout(TIMEOUT_MS)
            yield context, outside
        finally:
            context.close()
