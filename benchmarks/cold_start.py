"""Cold start: a fresh Python process that imports the app and answers its first request.

    .venv/bin/python -m benchmarks.cold_start [--runs 9] [--backend moto|dynamodb-local] [--json]

The database (moto server, or DynamoDB Local) is started once by this script, with the tables, one
product and one user in it. Then, alternating, fresh processes run:
- AutoMart: `import app`, then its first authenticated `GET /products/{sku}` through
  `chalice.test.Client` (the JWT authorizer, then the route: settings, model binding, GetItem);
- the baseline, benchmarks/bare_app: a bare Chalice app whose one route does one PynamoDB
  GetItem of the same item, through the same client and stack.
- AutoMart again, serving the console's page and assets (/console) before the same request: what
  the console costs the API function.
Each process reports the time from before its first import of the harness to the response in
hand, and the DynamoDB requests it sent; whole-process wall time (interpreter start included) is
measured from outside. Medians over --runs each. Where AutoMart is slower than 1.3x the baseline,
`python -X importtime` says which imports cost what (--importtime prints it always).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# What a browser fetches when it opens the console: the page, then every module and the style.
CONSOLE_PATHS = ("/console",) + tuple(
    f"/console/{path.name}"
    for path in sorted((ROOT / "chalicelib" / "console").iterdir())
    if path.suffix in (".js", ".css")
)
CONSOLE_MODULE = "chalicelib.api.console"
BARE = Path(__file__).resolve().parent / "bare_app"
SKU = "COLD-1"
TARGET_RATIO = 1.3

# Runs inside each fresh process. Counts DynamoDB requests by wrapping botocore's endpoint.
CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
for hidden in filter(None, os.environ.get("COLD_HIDE", "").split(",")):
    sys.modules[hidden] = None  # not in the Lambda package: `import` raises ModuleNotFoundError
import botocore.endpoint
requests = []
_send = botocore.endpoint.Endpoint.make_request
def counted(self, operation_model, request_dict):
    requests.append(operation_model.name)
    return _send(self, operation_model, request_dict)
botocore.endpoint.Endpoint.make_request = counted
from chalice.test import Client
t_harness = time.perf_counter()
sys.path.insert(0, os.getcwd())
import app
t_import = time.perf_counter()
token = os.environ.get("COLD_TOKEN")
headers = {"Authorization": "Bearer " + token} if token else {}
console = 0.0
with Client(app.app, stage_name="local", project_dir=os.getcwd()) as client:
    if os.environ.get("COLD_CONSOLE"):  # the console's page and assets first, as a browser asks
        t_console = time.perf_counter()
        for path in os.environ["COLD_CONSOLE"].split(","):
            page = client.http.get(path)
            assert page.status_code == 200 and page.body, (path, page.status_code)
        console = time.perf_counter() - t_console
    t_api = time.perf_counter()
    reply = client.http.get("/products/" + os.environ["COLD_SKU"], headers=headers)
t_done = time.perf_counter()
assert reply.status_code == 200, (reply.status_code, reply.body)
print(json.dumps({"total": t_done - t0, "harness": t_harness - t0, "import": t_import - t_harness,
                  "first_request": t_done - t_import, "api_request": t_done - t_api,
                  "console": console, "requests": requests}))
"""

# Creates the tables, the product and a user in the fresh database; prints an access token.
SETUP = r"""
import json, sys
from decimal import Decimal
sys.path.insert(0, ".")
from chalicelib.store import db
from chalicelib.inventory import products
from chalicelib.auth import users
db.create_tables()
products.create_product(None, sys.argv[1], "Cold", "", Decimal("9.99"), 10, 1)
users.create_user("cold@example.com", "password123", "Cold", "customer")
print(json.dumps({"token": users.login("cold@example.com", "password123").access_token}))
"""


def lambda_closure() -> set[str]:
    """Distributions the Lambda package ships: requirements.txt and what they require."""
    import re
    from importlib import metadata

    def name_of(requirement: str) -> str:
        return re.split(r"[\s\[<>=!~;(]", requirement.strip(), maxsplit=1)[0].lower()

    todo = [
        name_of(line)
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    seen: set[str] = set()
    while todo:
        name = todo.pop().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [name_of(r) for r in requires if "extra ==" not in r]
    return seen


# Installed here for the tests (moto needs it) and imported by PyJWT when present, but not in the
# Lambda package: hidden from both apps' processes when requirements.txt does not bring it.
DEV_ONLY = ("cryptography",)


def environment(endpoint: str) -> dict[str, str]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "DYNAMODB_ENDPOINT": endpoint,
        "TABLE_PREFIX": "automart-local-",
        "JWT_KEYS": "cold-start-benchmark-signing-key-32-bytes-long",
        "JWT_ISSUER": "automart-local",
        "JWT_AUDIENCE": "automart-api",
        "ARGON2_MEMORY_KIB": "256",
        "ARGON2_TIME_COST": "1",
        "PYTHONDONTWRITEBYTECODE": "",
    }
    for name in ("AWS_ENDPOINT_URL", "JWT_KEYS_PARAMETER", "AWS_PROFILE"):
        env.pop(name, None)
    shipped = lambda_closure()
    env["COLD_HIDE"] = ",".join(name for name in DEV_ONLY if name not in shipped)
    return env


def start_database(backend: str) -> tuple[str, subprocess.Popen]:
    sys.path.insert(0, str(ROOT))
    from infra.local_stack import start_moto
    from tests.stack import free_port

    port = free_port()
    if backend == "moto":
        return f"http://127.0.0.1:{port}", start_moto(port)
    from infra import dynamodb_local

    return f"http://127.0.0.1:{port}", dynamodb_local.start(port)


def run_child(cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"cold start child in {cwd} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def importtime(
    cwd: Path, env: dict[str, str], top: int = 10
) -> tuple[list[tuple[str, float]], dict[str, float]]:
    """What `import app` costs beyond the harness (chalice.test and botocore, imported first, as
    in the timed runs): python -X importtime's self time of every module it pulled in, summed
    by top-level package, largest first, in ms; and each module's own."""
    code = (
        "import sys, os\n"
        "for hidden in filter(None, os.environ.get('COLD_HIDE', '').split(',')):\n"
        "    sys.modules[hidden] = None\n"
        "import chalice.test, botocore.endpoint; sys.path.insert(0, os.getcwd()); import app"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows: list[tuple[int, str, float]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((depth, name.strip(), int(self_us) / 1000))
    # importtime prints children before their parent: the block that ends at `app` (depth 0).
    end = max(i for i, (depth, name, _) in enumerate(rows) if depth == 0 and name == "app")
    start = end
    while start > 0 and rows[start - 1][0] > 0:
        start -= 1
    totals: dict[str, float] = {}
    for _, name, own in rows[start : end + 1]:
        package = name.split(".")[0]
        totals[package] = totals.get(package, 0.0) + own
    modules = {name: own for _, name, own in rows[start : end + 1]}
    return sorted(totals.items(), key=lambda item: -item[1])[:top], modules


def median(values: list[float]) -> float:
    return statistics.median(values)


def unpack(package: Path, into: Path) -> Path:
    """The deployment zip as Lambda sees it (app.py, chalicelib, vendored libraries; botocore
    comes from the runtime, here the venv), plus the chalice config the test client reads."""
    import shutil
    import zipfile

    with zipfile.ZipFile(package) as bundle:
        bundle.extractall(into)
    # The bundle's chalice is only its runtime (app.py), the same version as the venv's; the
    # venv's is used so that the harness (chalice.test) imports.
    shutil.rmtree(into / "chalice", ignore_errors=True)
    (into / ".chalice").mkdir(exist_ok=True)
    shutil.copy(ROOT / ".chalice" / "config.json", into / ".chalice" / "config.json")
    return into


def measure(runs: int, backend: str, package: Path | None = None) -> dict[str, Any]:
    import tempfile

    endpoint, database = start_database(backend)
    scratch = tempfile.TemporaryDirectory()
    packaged = unpack(package, Path(scratch.name)) if package else None
    try:
        env = environment(endpoint)
        setup = subprocess.run(
            [sys.executable, "-c", SETUP, SKU],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if setup.returncode != 0:
            raise RuntimeError(f"setup failed:\n{setup.stderr}")
        token = json.loads(setup.stdout.strip().splitlines()[-1])["token"]
        app_env = {**env, "COLD_TOKEN": token, "COLD_SKU": SKU}
        bare_env = {**env, "COLD_SKU": SKU}
        bare_env.pop("COLD_TOKEN", None)
        run_child(ROOT, app_env)  # warm the OS file cache and .pyc files for both, not timed
        run_child(BARE, bare_env)
        console_env = {**app_env, "COLD_CONSOLE": ",".join(CONSOLE_PATHS)}
        run_child(ROOT, console_env)
        samples: dict[str, list[dict[str, Any]]] = {"app": [], "bare": [], "console": []}
        if packaged:
            run_child(packaged, app_env)
            samples["packaged"] = []
        for _ in range(runs):  # alternate, so drift on the machine hits both alike
            samples["app"].append(run_child(ROOT, app_env))
            samples["bare"].append(run_child(BARE, bare_env))
            samples["console"].append(run_child(ROOT, console_env))
            if packaged:
                samples["packaged"].append(run_child(packaged, app_env))
        summary: dict[str, Any] = {
            "backend": backend,
            "runs": runs,
            "hidden": [n for n in env["COLD_HIDE"].split(",") if n],
        }
        for name, rows in samples.items():
            summary[name] = {
                key: median([row[key] for row in rows])
                for key in ("total", "harness", "import", "first_request", "api_request", "wall")
            }
            summary[name]["console"] = median([row["console"] for row in rows])
            summary[name]["requests"] = rows[-1]["requests"]
        summary["ratio"] = summary["app"]["total"] / summary["bare"]["total"]
        summary["process_ratio"] = summary["app"]["wall"] / summary["bare"]["wall"]
        summary["importtime_app"], modules = importtime(ROOT, app_env)
        summary["importtime_bare"], _ = importtime(BARE, bare_env)
        summary["console_import_ms"] = modules[CONSOLE_MODULE]
        summary["console_paths"] = list(CONSOLE_PATHS)
        return summary
    finally:
        scratch.cleanup()
        database.terminate()
        try:
            database.wait(timeout=10)
        except subprocess.TimeoutExpired:
            database.kill()


def render(summary: dict[str, Any]) -> str:
    app, bare = summary["app"], summary["bare"]
    ms = lambda seconds: f"{seconds * 1000:.0f} ms"  # noqa: E731
    lines = [
        f"Database: {summary['backend']} (started once); {summary['runs']} fresh processes each, "
        "alternating; medians.",
        "",
        "| | AutoMart | bare Chalice + PynamoDB (baseline) | ratio |",
        "|---|---:|---:|---:|",
    ]
    for key, label in (
        ("total", "import + first request (in process)"),
        ("harness", "  of which chalice.test + botocore import"),
        ("import", "  of which `import app`"),
        ("first_request", "  of which first request"),
        ("wall", "whole process (interpreter start included)"),
    ):
        lines.append(
            f"| {label} | {ms(app[key])} | {ms(bare[key])} | {app[key] / bare[key]:.2f}x |"
        )
    lines.append(
        f"| DynamoDB requests in the first call | {len(app['requests'])} | "
        f"{len(bare['requests'])} | |"
    )
    if "packaged" in summary:
        packed = summary["packaged"]
        lines += [
            "",
            f"After packaging ({summary['package']}, unpacked and imported as Lambda would, "
            "botocore from the runtime):",
            "",
            "| | AutoMart as packaged | baseline | ratio |",
            "|---|---:|---:|---:|",
        ]
        for key, label in (
            ("total", "import + first request (in process)"),
            ("import", "  of which `import app`"),
            ("wall", "whole process (interpreter start included)"),
        ):
            lines.append(
                f"| {label} | {ms(packed[key])} | {ms(bare[key])} | "
                f"{packed[key] / bare[key]:.2f}x |"
            )
    console = summary["console"]
    lines += [
        "",
        f"The console (`GET /console` and its {len(summary['console_paths']) - 1} assets) in the "
        "same runs: fresh processes that serve it before the same API request, beside those that "
        "answer the API request first. Its files are read on their first request, never at "
        f"import; importing its routes (`{CONSOLE_MODULE}`) costs "
        f"{summary['console_import_ms']:.1f} ms of `import app` (python -X importtime, self time):",
        "",
        "| | API request first | console first |",
        "|---|---:|---:|",
        f"| `import app` | {ms(app['import'])} | {ms(console['import'])} |",
        f"| the console's page and assets | - | {ms(console['console'])} |",
        f"| the first API request itself | {ms(app['api_request'])} | "
        f"{ms(console['api_request'])} |",
        f"| whole process | {ms(app['wall'])} | {ms(console['wall'])} |",
    ]
    lines += [
        "",
        f"AutoMart's first call sent: {', '.join(app['requests'])}; the baseline's: "
        f"{', '.join(bare['requests'])}.",
        "",
        f"Target: a fresh process answering its first request within {TARGET_RATIO}x of the "
        "baseline: "
        + ("met" if summary["process_ratio"] <= TARGET_RATIO else "NOT met")
        + f" ({summary['process_ratio']:.2f}x). Without the interpreter start, which both "
        f"pay alike (so the ratio is harsher): {summary['ratio']:.2f}x.",
        "",
        "What `import app` costs beyond the harness (python -X importtime, self time summed "
        "by top-level package):",
        "",
        "| package | AutoMart | baseline |",
        "|---|---:|---:|",
    ]
    bare_costs = dict(summary["importtime_bare"])
    for name, cost in summary["importtime_app"]:
        lines.append(
            f"| {name} | {cost:.1f} ms | "
            + (f"{bare_costs[name]:.1f} ms" if name in bare_costs else "-")
            + " |"
        )
    lines.append(
        f"| sum of these rows | {sum(c for _, c in summary['importtime_app']):.1f} ms | "
        f"{sum(bare_costs.values()):.1f} ms |"
    )
    if summary["hidden"]:
        lines += [
            "",
            f"Hidden from both apps' processes, as in the Lambda package built from "
            f"requirements.txt: {', '.join(summary['hidden'])} (installed here for moto; "
            "PyJWT imports it when present, which a deployed cold start does not pay).",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--backend", choices=("moto", "dynamodb-local"), default="moto")
    parser.add_argument("--json", action="store_true", help="print the raw summary as JSON")
    parser.add_argument("--out", help="also write the markdown to this file")
    parser.add_argument("--package", type=Path, help="also time this deployment.zip (make package)")
    args = parser.parse_args()
    summary = measure(args.runs, args.backend, args.package)
    if args.package:
        summary["package"] = str(args.package)
    if args.out:
        Path(args.out).write_text(render(summary) + "\n")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{platform.node()} {time.strftime('%Y-%m-%d %H:%M')}")
        print(render(summary))


if __name__ == "__main__":
    main()
