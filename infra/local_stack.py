"""The local stack: `make run` (and the integration tests) start exactly this.

moto server (DynamoDB, SES, SSM; infra/moto_server.py) on AWS_EMULATOR_PORT, or DynamoDB Local
with LOCAL_DB=dynamodb-local (SES stays on moto); tables created from the PynamoDB models; the
SES sender verified; the admin from ADMIN_EMAIL / ADMIN_PASSWORD ensured; what AWS runs on
EventBridge schedules (app.py: the low-stock check, the sweep of expired holds) run one after the
other every CHECK_INTERVAL seconds (default 60); and the API under `chalice local` on PORT. Empty
state at every start; Ctrl-C or SIGTERM stops it all.

For tests and benchmarks only, DYNAMODB_LIMITS (with LOCAL_DB=dynamodb-local) puts the limits
proxy (infra/dynamodb_limits.py: per-key write and read units, a transaction's item lock) in
front of DynamoDB Local, in a process of its own on DYNAMODB_LIMITS_PORT (default 8002):
`DYNAMODB_LIMITS="write=20,read=300,lock_ms=500"` (any of the three; the others keep the
proxy's defaults). The app and the tables (created through it, so it knows every item) then use
the proxy; DYNAMODB_LOCAL_PORT stays DynamoDB Local's own. Unset (the default, `make run`): no
proxy.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEFAULT_ADMIN_EMAIL = "admin@example.com"
DEFAULT_ADMIN_PASSWORD = "local-admin-password"  # local only; printed by the README

log = logging.getLogger("automart.local")


def wait_for_port(port: int, process: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for port {port} exited with {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {HOST}:{port} after {timeout} s")


def start_moto(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.moto_server", HOST, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=open(os.environ.get("MOTO_LOG", os.devnull), "a"),  # noqa: SIM115 (the child's)
    )
    wait_for_port(port, process)
    return process


def start_database(backend: str, emulator_url: str) -> tuple[str, subprocess.Popen | None]:
    """The DynamoDB endpoint for the chosen backend, and its process if it has its own."""
    if backend == "moto":
        return emulator_url, None
    if backend == "dynamodb-local":
        from infra import dynamodb_local

        port = int(os.environ.get("DYNAMODB_LOCAL_PORT", "8001"))
        return f"http://{HOST}:{port}", dynamodb_local.start(port)
    raise SystemExit(f"LOCAL_DB must be moto or dynamodb-local, not {backend!r}")


# DYNAMODB_LIMITS names -> the proxy's options (python -m infra.dynamodb_limits --help).
LIMITS_OPTIONS = {
    "write": "--write-units-per-key",
    "read": "--read-units-per-key",
    "lock_ms": "--lock-ms",
}


def limits_arguments(spec: str) -> list[str]:
    """`write=20,read=300,lock_ms=500` as the proxy's command-line options."""
    arguments = []
    for part in spec.split(","):
        name, equals, value = part.strip().partition("=")
        if not equals or name.strip() not in LIMITS_OPTIONS:
            raise SystemExit(
                f"DYNAMODB_LIMITS: {part.strip()!r} is not one of "
                + ", ".join(f"{n}=NUMBER" for n in LIMITS_OPTIONS)
            )
        try:
            number = float(value)
        except ValueError:
            raise SystemExit(
                f"DYNAMODB_LIMITS: {name.strip()} must be a number, not {value!r}"
            ) from None
        if number <= 0:
            raise SystemExit(f"DYNAMODB_LIMITS: {name.strip()} must be positive")
        arguments += [LIMITS_OPTIONS[name.strip()], f"{number:g}"]
    return arguments


def start_limits_proxy(spec: str, upstream: str) -> tuple[str, subprocess.Popen]:
    """The limits proxy in front of `upstream` (DynamoDB Local), in a process of its own (its
    threads would share the GIL with the API's): its URL and its process."""
    port = int(os.environ.get("DYNAMODB_LIMITS_PORT", "8002"))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.dynamodb_limits",
            "--upstream",
            upstream,
            "--port",
            str(port),
            "--host",
            HOST,
            *limits_arguments(spec),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(os.environ.get("DYNAMODB_LIMITS_LOG", os.devnull), "a"),  # noqa: SIM115
    )
    wait_for_port(port, process)
    return f"http://{HOST}:{port}", process


def configure_environment(emulator_url: str, dynamodb_url: str) -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
    # A fresh signing key per start: the state is fresh too, so old tokens mean nothing.
    os.environ.setdefault("JWT_KEYS", secrets.token_urlsafe(32))
    os.environ["DYNAMODB_ENDPOINT"] = dynamodb_url
    os.environ["SES_ENDPOINT"] = emulator_url
    os.environ["SSM_ENDPOINT"] = emulator_url
    for name in ("AWS_ENDPOINT_URL", "JWT_KEYS_PARAMETER"):
        os.environ.pop(name, None)


def prepare_state(admin_email: str, admin_password: str) -> None:
    import botocore.session

    from chalicelib.auth import users
    from chalicelib.settings import get_settings
    from chalicelib.store import db

    db.create_tables()
    settings = get_settings()
    ses = botocore.session.get_session().create_client(
        "ses", region_name=settings.region, endpoint_url=settings.ses_endpoint
    )
    ses.verify_email_identity(EmailAddress=settings.alert_sender)
    users.ensure_admin(admin_email, admin_password)


@dataclass(frozen=True)
class Job:
    """One thing the loop runs each pass; its result is logged."""

    name: str
    run: Callable[[], object]


def scheduled_jobs() -> tuple[Job, ...]:
    """The scheduled functions of app.py, as the local stack runs them (no EventBridge here).

    The sweep keeps its default budget, that of POST /holds/release-expired: a pass stays short,
    so the low-stock check of the next one is on time; what is left waits an interval."""
    from chalicelib.alerts.check import run_check
    from chalicelib.inventory.holds import release_expired

    return (Job("low-stock check", run_check), Job("expired-holds sweep", release_expired))


def run_checks_every(
    interval: float, stop: threading.Event, jobs: tuple[Job, ...] | None = None
) -> threading.Thread:
    """Every `interval` seconds until `stop`: each job (default: `scheduled_jobs()`) in turn."""
    chosen = scheduled_jobs() if jobs is None else jobs

    def loop() -> None:
        while not stop.wait(interval):
            for job in chosen:
                try:
                    log.info("%s: %s", job.name, job.run())
                except Exception:  # keep going: the next pass retries what failed
                    log.exception("%s failed", job.name)

    thread = threading.Thread(target=loop, name="scheduled-jobs", daemon=True)
    thread.start()
    return thread


def chalice_factory():
    """The factory `chalice local` uses; the stage's environment applies to this process too."""
    from chalice.cli.factory import CLIFactory

    factory = CLIFactory(project_dir=str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name="local")
    for name, value in config.environment_variables.items():
        os.environ.setdefault(name, value)
    return factory


def create_api_server(factory, port: int):
    from chalice.cli import create_local_server

    from infra import gateway_shim

    gateway_shim.install()
    return create_local_server(factory, HOST, port, "local")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    emulator_port = int(os.environ.get("AWS_EMULATOR_PORT", "5000"))
    api_port = int(os.environ.get("PORT", "8000"))
    backend = os.environ.get("LOCAL_DB", "moto")
    admin_email = os.environ.get("ADMIN_EMAIL", DEFAULT_ADMIN_EMAIL)
    admin_password = os.environ.get("ADMIN_PASSWORD", DEFAULT_ADMIN_PASSWORD)
    interval = float(os.environ.get("CHECK_INTERVAL", "60"))
    sys.path.insert(0, str(ROOT))

    stop = threading.Event()
    children: list[subprocess.Popen] = []

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server = None
    try:
        emulator_url = f"http://{HOST}:{emulator_port}"
        emulator = start_moto(emulator_port)
        children.append(emulator)
        dynamodb_url, database = start_database(backend, emulator_url)
        if database is not None:
            children.append(database)
        limits = os.environ.get("DYNAMODB_LIMITS", "").strip()
        if limits:
            if backend != "dynamodb-local":
                raise SystemExit("DYNAMODB_LIMITS needs LOCAL_DB=dynamodb-local")
            dynamodb_url, proxy = start_limits_proxy(limits, dynamodb_url)
            children.append(proxy)
        configure_environment(emulator_url, dynamodb_url)
        factory = chalice_factory()
        prepare_state(admin_email, admin_password)
        run_checks_every(interval, stop)
        server = create_api_server(factory, api_port)
        threading.Thread(target=server.serve_forever, name="api", daemon=True).start()
        wait_for_port(api_port)
        # Machine-readable, before the ready line: the tests pause the database process
        # (SIGSTOP) to check that a stalled DynamoDB answers 503 in time.
        print(
            f"AutoMart local stack pids: stack {os.getpid()}, emulator {emulator.pid}, "
            f"database {(database or emulator).pid}",
            flush=True,
        )
        print(
            f"AutoMart local stack ready: API http://{HOST}:{api_port} "
            f"(docs at /docs), AWS emulator {emulator_url}, database {backend} "
            f"at {dynamodb_url}{' (limits proxy: ' + limits + ')' if limits else ''}, "
            f"admin {admin_email}",
            flush=True,
        )
        while not stop.wait(0.5):
            if any(child.poll() is not None for child in children):
                raise SystemExit("an emulator process died; stopping")
    finally:
        if server is not None:
            server.shutdown()
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        print("AutoMart local stack stopped", flush=True)


if __name__ == "__main__":
    main()
