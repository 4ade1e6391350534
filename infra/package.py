"""`make package STAGE=dev|prod`: one CloudFormation template and one zip for a stage.

    python -m infra.package --stage dev        # -> build/dev/sam.json, build/dev/deployment.zip

1. writes the merge template (infra/template.py) to build/<stage>-merge.json;
2. runs `chalice package --stage <stage> --merge-template build/<stage>-merge.json build/<stage>`
   (Chalice downloads manylinux wheels from PyPI and caches them in .chalice/deployments);
3. takes botocore and its dependencies back out of deployment.zip: pynamodb pulls them in, but
   the Lambda Python runtime ships boto3/botocore already (about 17 MB of the 23 MB zip);
4. writes build/<stage>/package-size.json (sizes before and after).

No AWS credentials are needed; chalice wants a region name only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from infra import template

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"

# Top-level names in the zip that the Lambda Python runtime provides (boto3 and what it needs).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
_DIST_INFO = {"boto3", "botocore", "s3transfer", "jmespath", "python_dateutil", "urllib3", "six"}


def runtime_provided(name: str) -> bool:
    top = name.split("/", 1)[0]
    if top.endswith(".dist-info"):
        return top.split("-", 1)[0].lower() in _DIST_INFO
    return top in RUNTIME_PROVIDED or top.removesuffix(".py") in RUNTIME_PROVIDED


def strip_runtime_packages(zip_path: Path) -> dict[str, int]:
    """Rewrite the zip without what the runtime provides; returns sizes in bytes."""
    before = zip_path.stat().st_size
    slim = zip_path.with_suffix(".slim.zip")
    removed = 0
    with (
        zipfile.ZipFile(zip_path) as source,
        zipfile.ZipFile(slim, "w", compression=zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            if runtime_provided(info.filename):
                removed += 1
                continue
            target.writestr(info, source.read(info), compress_type=zipfile.ZIP_DEFLATED)
    slim.replace(zip_path)
    with zipfile.ZipFile(zip_path) as result:
        unzipped = sum(info.file_size for info in result.infolist())
    return {
        "zip_bytes_before": before,
        "zip_bytes_after": zip_path.stat().st_size,
        "unzipped_bytes_after": unzipped,
        "files_removed": removed,
    }


def package(stage: str, out: Path | None = None) -> Path:
    out = out or BUILD / stage
    started = time.monotonic()
    BUILD.mkdir(exist_ok=True)
    merge = BUILD / f"{stage}-merge.json"
    merge.write_text(json.dumps(template.merge_template(stage), indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run(
        [str(chalice), "package", "--stage", stage, "--merge-template", str(merge), str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    sizes: dict[str, float] = {**strip_runtime_packages(out / "deployment.zip")}
    sizes["seconds"] = round(time.monotonic() - started, 1)
    (out / "package-size.json").write_text(json.dumps(sizes, indent=1) + "\n")
    print(
        f"{stage}: {out / 'sam.json'}; deployment.zip {sizes['zip_bytes_before'] / 1e6:.1f} MB"
        f" -> {sizes['zip_bytes_after'] / 1e6:.1f} MB (boto3/botocore come with the runtime);"
        f" {sizes['seconds']} s"
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stage", required=True, choices=sorted(template.STAGES))
    parser.add_argument("--out", type=Path, help="output folder (default build/<stage>)")
    args = parser.parse_args(argv)
    package(args.stage, args.out)


if __name__ == "__main__":
    main()
