"""Every benchmark, one after the other, into BENCHMARKS.md: `make bench`.

    .venv/bin/python -m benchmarks.run [--output BENCHMARKS.md] [--quick]

Each benchmark runs in its own process and measures its own baseline in the same run:
(a) cold start beside a bare Chalice + PynamoDB app, (b) DynamoDB requests per operation beside
the floor the data model allows, (c) orders per second at 1/4/16 clients beside GET /health and
GET /products/{sku} (benchmarks/orders_per_second.py, the orders engineer's), (d) the low-stock
check against the catalog size beside a full Scan (benchmarks/low_stock_check.py, the alerts
engineer's), (e) a login's and a reset request's cost beside the former scrypt check
(benchmarks/login_cost.py), (f) catalog pages (sku and name order, search, stock filter) against
the catalog size beside the full Scan that finds the same products (benchmarks/catalog_pages.py,
on DynamoDB Local), (g) the capacity model: each write path's items, index entries and units,
and the ceilings DynamoDB's partition limits put on the shop, one sku and one customer, today
beside new (benchmarks/capacity.py), (h) a flash sale of one sku at stock_shards 1, 8 and 32
through the local stack on DynamoDB Local behind the limits proxy, beside the model's speed-ups
(benchmarks/flash_sale.py). A benchmark whose script is missing gets a section saying so (the
hook is here: BENCHMARKS below), and one that fails gets its error: `make bench` still writes
the file, and exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent


@dataclass
class Benchmark:
    key: str
    title: str
    script: str  # file under benchmarks/
    args: list[str]
    quick_args: list[str]
    markdown_out: bool  # writes its own markdown with --out; otherwise its stdout is shown as is
    about: str
    timeout: float = 1800
    env: dict[str, str] = field(default_factory=dict)  # e.g. LOCAL_DB for the other backend
    result: str = ""
    seconds: float = 0.0
    failed: bool = False
    notes: list[str] = field(default_factory=list)


BENCHMARKS = [
    Benchmark(
        "a",
        "Cold start",
        "cold_start.py",
        ["--runs", "9", "--package", "build/dev/deployment.zip"],
        ["--runs", "3", "--package", "build/dev/deployment.zip"],
        True,
        "A fresh Python process imports the app and answers its first authenticated "
        "`GET /products/{sku}` (chalice.test.Client: authorizer, then route), against "
        "moto server started once; baseline: benchmarks/bare_app, a bare Chalice app "
        "doing one PynamoDB GetItem of the same item through the same client and server. "
        "Also: what serving the console (`GET /console` and its assets) first costs the "
        "API's first request.",
    ),
    Benchmark(
        "b",
        "DynamoDB requests per operation",
        "dynamodb_requests.py",
        [],
        [],
        True,
        "Counted on the shared botocore client (moto in process). Baseline: the floor, "
        "the fewest requests the contract allows with this data model.",
    ),
    Benchmark(
        "c",
        "Orders per second at 1, 4 and 16 clients",
        "orders_per_second.py",
        [],
        ["--seconds", "2"],
        False,
        "Over HTTP against the local stack (chalice local, moto server), a new connection "
        "per request; baselines in the same run: GET /health (no token, no database) and "
        "GET /products/{sku} (authorizer + one GetItem) at the same concurrency.",
    ),
    Benchmark(
        "c2",
        "Orders per second at 1, 4 and 16 clients, on DynamoDB Local",
        "orders_per_second.py",
        [],
        ["--seconds", "2"],
        False,
        "The same as (c) with the local stack on DynamoDB Local (LOCAL_DB=dynamodb-local): "
        "moto serves one request at a time and copies tables in every transaction, so (c) "
        "shows moto's ceiling; this one shows how orders scale with clients.",
        env={"LOCAL_DB": "dynamodb-local"},
    ),
    Benchmark(
        "d",
        "Low-stock check against catalog size",
        "low_stock_check.py",
        [],
        ["--sizes", "1000", "5000"],
        False,
        "moto in process; the check's time and items read as the catalog grows, beside a "
        "full Scan of the same table (what a check without the low-stock index would "
        "read).",
    ),
    Benchmark(
        "e",
        "Login and password reset cost",
        "login_cost.py",
        [],
        ["--runs", "5"],
        True,
        "moto in process, production hashing settings; baseline: the password check at "
        "main's former setting (scrypt N=2^14, r=8, p=1), measured in the same run.",
    ),
    Benchmark(
        "f",
        "Catalog pages against catalog size",
        "catalog_pages.py",
        [],
        ["--sizes", "1000", "10000", "--runs", "3"],
        True,
        "DynamoDB Local in memory (real indexes and ScannedCount; needs Java), "
        "`catalog.list_products` in process: the first page (20) of each query shape of "
        "GET /products at 1,000, 10,000 and 50,000 products, each size holding the same 40 "
        "low and 20 'Zircon' products; baseline in the same run: the full Scan of the "
        "products table, with the page's filter, that finds the same products without the "
        "catalog indexes (GET /products was one Scan page, in no order).",
        timeout=900,
    ),
    Benchmark(
        "g",
        "Capacity model: sustained ceilings per write path, today beside new",
        "capacity.py",
        [],
        [],
        True,
        "Every write path recorded through the real API (moto in process, a botocore hook on "
        "the shared client: each item written, read back before and after, and each read), "
        "once under main's configuration (LOW_STOCK_SHARDS=4, LIST_SHARDS=1, HOLD_SHARDS=4, "
        "stock_shards 1) and once under the code's defaults (stock_shards 64 for one sku); "
        "items and index entries sized as DynamoDB does, and the ceilings that 1,000 write "
        "and 3,000 read units per partition and a transaction's item lock allow: the whole "
        "shop, one sku, one customer. A model, not a measurement: its assumptions are stated.",
        timeout=300,
    ),
    Benchmark(
        "h",
        "Flash sale of one sku: stock_shards 1, 8 and 32 beside the model",
        "flash_sale.py",
        [],
        ["--sale-seconds", "15"],
        True,
        "Over HTTP against the local stack on DynamoDB Local behind the limits proxy "
        "(infra/dynamodb_limits.py: per-key write and read units and a transaction's item lock, "
        "scaled down; needs Java): 64 concurrent customers buying 1 unit of one sku until its "
        "stock (well below demand) is gone, at stock_shards 1, 8 and 32; orders a second, 409s, "
        "503s, latency, units sold against the stock and the ledger, the proxy's refusals, and "
        "the measured speed-up over 1 shard beside the capacity model's at the same limits.",
        timeout=600,
    ),
]


def machine() -> list[str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB memory"
    except (OSError, ValueError, IndexError):
        pass
    java = subprocess.run(["java", "-version"], capture_output=True, text=True)
    java_version = (java.stderr.splitlines() or ["no java"])[0] if java.returncode == 0 else "none"
    return [
        f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- Machine: {os.cpu_count()} cores ({cpu}){memory}; {platform.system()} "
        f"{platform.release()} ({platform.machine()})",
        f"- Python {platform.python_version()}; Java: {java_version}",
        "- Load: the machine is shared (other work may run at the same time); every figure "
        "sits beside a baseline measured in the same run, so read ratios before absolutes.",
    ]


def clean(output: str) -> str:
    """Drop the app's JSON log and metric lines (EMF) from a benchmark's console output."""
    kept = []
    for line in output.splitlines():
        stripped = line.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            try:
                json.loads(stripped)
                continue
            except ValueError:
                pass
        if " - INFO - " in line or " - WARNING - " in line:
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def run(benchmark: Benchmark, quick: bool) -> None:
    script = HERE / benchmark.script
    if not script.exists():
        benchmark.result = (
            f"Not run: benchmarks/{benchmark.script} is not in the tree yet. "
            "When it lands, `make bench` runs it here (hook: BENCHMARKS in "
            "benchmarks/run.py)."
        )
        benchmark.failed = True
        return
    args = benchmark.quick_args if quick else benchmark.args
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "result.md"
        command = [sys.executable, "-m", f"benchmarks.{script.stem}", *args]
        if benchmark.markdown_out:
            command += ["--out", str(out)]
        print(f"[bench] ({benchmark.key}) {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        try:
            done = subprocess.run(
                command,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=benchmark.timeout,
                env={**os.environ, **benchmark.env},
            )
        except subprocess.TimeoutExpired:
            benchmark.failed = True
            benchmark.result = f"Timed out after {benchmark.timeout:.0f} s."
            return
        benchmark.seconds = time.monotonic() - started
        if done.returncode != 0:
            benchmark.failed = True
            benchmark.result = "Failed (exit {}):\n\n```\n{}\n```".format(
                done.returncode, clean(done.stdout + "\n" + done.stderr)[-4000:]
            )
        elif benchmark.markdown_out:
            benchmark.result = out.read_text().strip()
        else:
            benchmark.result = f"```\n{clean(done.stdout)}\n```"
    print(
        f"[bench] ({benchmark.key}) {'FAILED' if benchmark.failed else 'done'} in "
        f"{benchmark.seconds:.0f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--quick", action="store_true", help="fewer runs and smaller sizes")
    args = parser.parse_args()
    for benchmark in BENCHMARKS:
        run(benchmark, args.quick)
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (benchmarks/run.py); do not edit by hand. Each figure is "
        "beside its baseline, measured in the same run on the same machine.",
        "",
        *machine(),
        "",
    ]
    if args.quick:
        lines += ["(Quick run: fewer repetitions and smaller sizes.)", ""]
    for benchmark in BENCHMARKS:
        used = benchmark.quick_args if args.quick else benchmark.args
        prefix = "".join(f"{name}={value} " for name, value in benchmark.env.items())
        command = " ".join(
            [f"{prefix}.venv/bin/python -m benchmarks.{Path(benchmark.script).stem}", *used]
        )
        took = f" ({benchmark.seconds:.0f} s)" if benchmark.seconds else ""
        lines += [
            f"## ({benchmark.key}) {benchmark.title}",
            "",
            benchmark.about,
            "",
            f"Command: `{command}`{took}",
            "",
            benchmark.result,
            "",
        ]
    Path(args.output).write_text("\n".join(lines).rstrip() + "\n")
    print(f"[bench] wrote {args.output}", flush=True)
    if any(b.failed for b in BENCHMARKS):
        sys.exit(1)


if __name__ == "__main__":
    main()
