"""What a login and a reset request cost, before and after argon2id, known email or not.

    .venv/bin/python -m benchmarks.login_cost [--runs 15] [--out result.md]

In process: moto's mock, the app through chalice.test.Client, production hashing settings.
(1) The password check alone: scrypt at main's old setting (N=2^14, r=8, p=1: the baseline),
scrypt at OWASP's equal setting (N=2^14, r=8, p=5), argon2id at OWASP's (19 MiB, t=2, p=1), and
the dummy check an unknown email gets. (2) POST /auth/login end to end: a known user, an unknown
email, a wrong password, and the one login that upgrades an old scrypt hash. (3) POST
/auth/password-reset for a known and an unknown email, without the answer floor (what it hides)
and with the default floor. Medians of `--runs`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.in_process import use_moto  # noqa: E402 (after the path is set)

# Production hashing and answer floor: the test suite's fast settings are dropped.
use_moto(
    "bench-login-",
    "ARGON2_MEMORY_KIB",
    "ARGON2_TIME_COST",
    "RESET_ANSWER_SECONDS",
    JWT_KEYS="login-cost-benchmark-signing-key-32-bytes!",
)

PASSWORD = "correct horse battery"


def median_ms(job: Callable[[], object], runs: int, before: Callable[[], object] | None = None):
    times = []
    for _ in range(runs):
        if before:
            before()
        started = time.perf_counter()
        job()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def scrypt_hash(password: str, n: int, p: int) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=p, maxmem=2**28, dklen=32)
    return f"scrypt${n}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out")
    args = parser.parse_args()
    runs = args.runs

    from chalice.test import Client
    from moto import mock_aws

    from chalicelib import mail
    from chalicelib.auth import passwords, users
    from chalicelib.settings import get_settings, reset_settings
    from chalicelib.store import db
    from chalicelib.store.models import User
    from infra import gateway_shim

    gateway_shim.install()
    rows: list[tuple[str, float, str]] = []
    old = scrypt_hash(PASSWORD, 2**14, 1)
    baseline = median_ms(lambda: passwords.verify_password(PASSWORD, old), runs)
    rows.append(("check: scrypt N=2^14 r=8 p=1 (main before, baseline)", baseline, ""))

    def scrypt_owasp() -> None:
        salt = b"0" * 16
        hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=5, maxmem=2**28, dklen=32)

    rows.append(("check: scrypt N=2^14 r=8 p=5 (OWASP)", median_ms(scrypt_owasp, runs), ""))
    new = passwords.hash_password(PASSWORD)
    rows.append(
        (
            "check: argon2id 19 MiB t=2 p=1 (OWASP, now)",
            median_ms(lambda: passwords.verify_password(PASSWORD, new), runs),
            "",
        )
    )
    passwords.burn_time("warm")  # the dummy hash is made once per container
    rows.append(
        ("check: unknown email's dummy", median_ms(lambda: passwords.burn_time(PASSWORD), runs), "")
    )

    with mock_aws():
        db.bind()
        db.create_tables()
        mail.client().verify_email_identity(EmailAddress=get_settings().alert_sender)
        user = users.create_user("bench@example.com", PASSWORD, "Bench", "customer")
        from app import app

        with Client(app, stage_name="local") as client:

            def login(email: str, password: str = PASSWORD) -> Callable[[], object]:
                body = f'{{"email": "{email}", "password": "{password}"}}'
                headers = {"Content-Type": "application/json"}
                return lambda: client.http.post("/auth/login", headers=headers, body=body)

            def make_old() -> None:
                User(id=user.id).update([User.password_hash.set(old)])

            rows += [
                ("POST /auth/login: known user", median_ms(login(user.email), runs), "200"),
                (
                    "POST /auth/login: unknown email",
                    median_ms(login("no@example.com"), runs),
                    "401",
                ),
                (
                    "POST /auth/login: wrong password",
                    median_ms(login(user.email, "wrong password"), 4),
                    "401",
                ),
                (
                    "POST /auth/login: old scrypt hash (upgraded)",
                    median_ms(login(user.email), runs, before=make_old),
                    "200",
                ),
            ]

            def reset(email: str) -> Callable[[], object]:
                body = f'{{"email": "{email}"}}'
                headers = {"Content-Type": "application/json"}
                return lambda: client.http.post("/auth/password-reset", headers=headers, body=body)

            # At most 3 emails an hour per address: a fresh user for each timed request keeps
            # every one on the email path.
            fresh = iter(f"reset{n}@example.com" for n in range(10_000))
            current = {"email": ""}

            def new_user() -> None:
                current["email"] = next(fresh)
                users.create_user(current["email"], PASSWORD, "R", "customer")

            for floor in ("0", None):
                if floor is None:
                    os.environ.pop("RESET_ANSWER_SECONDS", None)
                else:
                    os.environ["RESET_ANSWER_SECONDS"] = floor
                reset_settings()
                label = f"floor {get_settings().reset_answer_seconds:g} s"
                known = median_ms(lambda: reset(current["email"])(), runs, before=new_user)
                unknown = median_ms(reset("nobody@example.com"), runs)
                rows.append((f"POST /auth/password-reset: known ({label})", known, "202"))
                rows.append((f"POST /auth/password-reset: unknown ({label})", unknown, "202"))

    lines = [
        "| what | median ms | vs baseline | status |",
        "|---|---:|---:|---|",
        *(f"| {what} | {ms:.1f} | {ms / baseline:.2f}x | {status} |" for what, ms, status in rows),
    ]
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
