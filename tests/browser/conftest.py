"""One local stack (moto) for every browser test: the docs page and the console."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stack import Stack, start_stack, stop_stack


@pytest.fixture(scope="session")
def browser_stack() -> Iterator[Stack]:
    stack = start_stack("moto")
    yield stack
    assert stop_stack(stack) == 0
