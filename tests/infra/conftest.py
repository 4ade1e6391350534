"""Infra fixtures: `make package` for dev and prod, once per test session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("dev", "prod")
# The test environment (tests/conftest.py) is not the packaging environment.
_TEST_ONLY = (
    "TABLE_PREFIX",
    "JWT_KEYS",
    "ARGON2_MEMORY_KIB",
    "ARGON2_TIME_COST",
    "RESET_ANSWER_SECONDS",
    "ALERT_SENDER",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)


def _package(stage: str) -> Path:
    """What `make package STAGE=<stage>` runs, in a clean environment."""
    env = {k: v for k, v in os.environ.items() if k not in _TEST_ONLY}
    subprocess.run(
        [sys.executable, "-m", "infra.package", "--stage", stage], cwd=ROOT, env=env, check=True
    )
    return ROOT / "build" / stage


@pytest.fixture(scope="session")
def packaged() -> dict[str, Path]:
    return {stage: _package(stage) for stage in STAGES}


@pytest.fixture(scope="session")
def templates(packaged: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {stage: json.loads((path / "sam.json").read_text()) for stage, path in packaged.items()}


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}
