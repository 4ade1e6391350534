"""Management command, for the local stack and for AWS.

    python -m infra.cli create-admin --email you@example.com --password '...'  # first admin,
                                           # or a new password for an existing admin
    python -m infra.cli seed --count 200   # sample products
    python -m infra.cli emails             # mail the local stack sent
    python -m infra.cli import-products products.csv [--actor admin@example.com]
    python -m infra.cli export-products [--output products.csv]        # default: stdout
    python -m infra.cli export-movements --since 2024-05-01 [--output movements.csv]
    python -m infra.cli migrate            # catalog index keys on products written before them

`--stage local` (the default) talks to the local stack's emulator (AWS_EMULATOR_PORT, or
--emulator/--dynamodb URLs); `--stage dev|prod` talks to AWS with your usual credentials and the
stage's table prefix from .chalice/config.json (and its JWT key parameter is not needed here).

The CSV commands (their rules: infra/catalog_csv.py) print only their own output on stdout
(progress and the exports' counts on stderr; the app's metrics are not written here);
import-products exits 1 if any row was rejected. Products written before the catalog indexes
appear in export-products (and in the API) once `migrate` gave them their keys.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import random
import sys
import urllib.request
from decimal import Decimal
from pathlib import Path

from infra import catalog_csv

ROOT = Path(__file__).resolve().parent.parent


def stage_environment(stage: str) -> dict[str, str]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return {
        **config.get("environment_variables", {}),
        **config["stages"][stage].get("environment_variables", {}),
    }


def configure(args: argparse.Namespace) -> None:
    os.environ.update(stage_environment(args.stage))  # the stage decides the tables
    if args.stage == "local":
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        os.environ["DYNAMODB_ENDPOINT"] = args.dynamodb or args.emulator
    os.environ.pop("JWT_KEYS_PARAMETER", None)  # nothing here signs tokens
    from chalicelib import observability

    observability.mute_metrics()  # stdout is the command's own: no EMF lines in between


def bind_store() -> None:
    from chalicelib.store import db

    db.bind()  # once, as a request or the scheduled check does


def create_admin(args: argparse.Namespace) -> None:
    from pydantic import TypeAdapter, ValidationError

    from chalicelib.auth import users
    from chalicelib.schemas import Password

    bind_store()

    password = args.password or getpass.getpass(f"Password for {args.email}: ")
    try:
        TypeAdapter(Password).validate_python(password)
    except ValidationError as error:
        sys.exit(f"password: {error.errors()[0]['msg']}")
    try:
        done = users.ensure_admin(args.email, password, args.name, reset_password=True)
    except users.NotAnAdmin:
        sys.exit(f"{args.email} belongs to a user who is not an admin: change the role instead")
    outcome = "created" if done.created else "password reset" if done.password_reset else "exists"
    print(f"{outcome}: admin {done.user.email} ({done.user.id})")


SAMPLE_NAMES = ("Anvil", "Bolt", "Cog", "Drill", "Engine", "Fan", "Gear", "Hose", "Jack", "Lamp")


def seed(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from chalicelib.errors import SkuExists
    from chalicelib.inventory import products

    bind_store()
    rng = random.Random(args.random_seed)
    created = 0
    for number in tqdm(range(args.count), desc="seeding products", unit="product"):
        name = f"{rng.choice(SAMPLE_NAMES)} {number}"
        try:
            products.create_product(
                actor=None,
                sku=f"SEED-{number:05d}",
                name=name,
                description=f"Sample {name.lower()}",
                price=Decimal(rng.randint(100, 99_999)) / 100,
                stock=rng.randint(0, 200),
                low_stock_threshold=5,
            )
            created += 1
        except SkuExists:
            pass
    print(f"{created} products created ({args.count - created} existed)")


# ---- migrate ------------------------------------------------------------------------------------


def add_catalog_keys(sku: str, name: str) -> bool:
    """Give one product the catalog index keys, unless it has them; True if this wrote them."""
    from pynamodb.exceptions import UpdateError

    from chalicelib.inventory import catalog
    from chalicelib.store.models import Product
    from chalicelib.store.transact import condition_failed

    for _ in range(5):
        actions = [
            getattr(Product, attr).set(value) for attr, value in catalog.keys(sku, name).items()
        ]
        # Never creates an item (a product deleted since the Scan), never overwrites the keys a
        # create or a rename wrote meanwhile.
        condition = Product.sku.exists() & Product.listed.does_not_exist() & (Product.name == name)
        try:
            Product(sku=sku).update(actions, condition=condition)
            return True
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
        try:
            current = Product.get(sku, consistent_read=True)
        except Product.DoesNotExist:
            return False
        if current.listed is not None:
            return False
        name = current.name  # renamed meanwhile: the key of the new name
    raise RuntimeError(f"{sku} keeps changing: run migrate again")


def migrate(args: argparse.Namespace) -> None:
    from chalicelib.store.models import Product

    bind_store()
    scanned = updated = 0
    for item in Product.scan(consistent_read=True, attributes_to_get=["sku", "name", "listed"]):
        scanned += 1
        if item.listed is None and add_catalog_keys(item.sku, item.name):
            updated += 1
    print(f"{updated} products updated ({scanned} scanned)")


def read_local_emails(emulator: str) -> list[dict]:
    """What the emulator's SES accepted (moto's own state endpoint)."""
    with urllib.request.urlopen(f"{emulator}/moto-api/data.json", timeout=10) as response:
        return json.load(response).get("ses", {}).get("Message", [])


def recipients(message: dict) -> list[str]:
    return message["destinations"].get("ToAddresses", [])


def emails(args: argparse.Namespace) -> None:
    if args.stage != "local":
        sys.exit("In AWS, SES delivers the alerts to the recipients' inboxes.")
    messages = read_local_emails(args.emulator)
    if args.json:
        print(json.dumps(messages, indent=2))
        return
    for message in messages:
        print(
            f"From: {message.get('source')}\nTo: {', '.join(recipients(message))}"
            f"\nSubject: {message.get('subject')}\n\n{message.get('body')}\n{'-' * 72}"
        )
    print(f"{len(messages)} email(s)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stage", default="local", choices=("local", "dev", "prod"))
    emulator_port = os.environ.get("AWS_EMULATOR_PORT", "5000")
    parser.add_argument(
        "--emulator",
        default=f"http://127.0.0.1:{emulator_port}",
        help="the local AWS emulator (moto server)",
    )
    parser.add_argument(
        "--dynamodb", help="DynamoDB endpoint when not the emulator (LOCAL_DB=dynamodb-local)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    admin = commands.add_parser(
        "create-admin", help="create an admin, or set an existing admin's password"
    )
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", help="asked for when left out")
    admin.add_argument("--name", default="Admin")
    admin.set_defaults(run=create_admin)
    sample = commands.add_parser("seed", help="create sample products")
    sample.add_argument("--count", type=int, default=50)
    sample.add_argument("--random-seed", type=int, default=7)
    sample.set_defaults(run=seed)
    mail = commands.add_parser("emails", help="print the emails the local stack sent")
    mail.add_argument("--json", action="store_true")
    mail.set_defaults(run=emails)
    importing = commands.add_parser(
        "import-products", help="create and update products from a CSV file"
    )
    importing.add_argument(
        "file", help=f"CSV with the header {','.join(catalog_csv.PRODUCT_COLUMNS)}; - for stdin"
    )
    importing.add_argument(
        "--actor",
        metavar="EMAIL",
        help="the admin the changes are recorded for (default: $ADMIN_EMAIL)",
    )
    importing.set_defaults(run=catalog_csv.import_products)
    exporting = commands.add_parser("export-products", help="every product as CSV, by sku")
    exporting.add_argument("--output", metavar="FILE", help="default: stdout")
    exporting.set_defaults(run=catalog_csv.export_products)
    ledger = commands.add_parser(
        "export-movements", help="every product's stock movements since a date, as CSV"
    )
    ledger.add_argument(
        "--since",
        required=True,
        type=catalog_csv.since_date,
        metavar="YYYY-MM-DD",
        help="from midnight UTC",
    )
    ledger.add_argument("--output", metavar="FILE", help="default: stdout")
    ledger.set_defaults(run=catalog_csv.export_movements)
    keys = commands.add_parser(
        "migrate", help="give products written before the catalog indexes their keys"
    )
    keys.set_defaults(run=migrate)
    args = parser.parse_args(argv)
    configure(args)
    args.run(args)


if __name__ == "__main__":
    main()
