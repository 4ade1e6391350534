"""One local stack (moto) for every browser test: the docs page and the console."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.stack import Stack, start_stack, stop_stack

# An assertion waits this long for the page to get there (Playwright's 5 s is tight for chains
# that include a Retry-After on a loaded 2-core machine).
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def browser_stack() -> Iterator[Stack]:
    stack = start_stack("moto")
    yield stack
    assert stop_stack(stack) == 0
