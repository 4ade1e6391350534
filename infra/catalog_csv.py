"""The management command's CSV: products in (`import-products`) and out (`export-products`),
movements out (`export-movements`). Each command function takes the parsed arguments; `infra.cli`
has configured the stage before it runs.

Products CSV (UTF-8, a header line first): sku,name,description,price,stock,low_stock_threshold,
what export-products writes and import-products reads. Each row is checked by the API's rules
(`ProductIn`); description, stock and low_stock_threshold may be empty or left out: "", 0 and 5
for a new sku, unchanged for an existing one. An existing sku gets its changed fields and, if its
stock is not the file's, an adjustment (reason `count`, `expected_stock` the stock read) by the
--actor user. A row that changes nothing writes nothing; a bad row (also every row of a sku the
file has twice) is rejected with its reason and the others still go through. Row numbers count
the header as row 1, as a spreadsheet does.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from chalicelib import clock
from chalicelib.store import db

PRODUCT_COLUMNS = ("sku", "name", "description", "price", "stock", "low_stock_threshold")
REQUIRED_COLUMNS = ("sku", "name", "price")
WHOLE_NUMBER_COLUMNS = ("stock", "low_stock_threshold")
MOVEMENT_COLUMNS = ("sku", "at", "kind", "quantity_change", "reference", "actor", "reason", "note")
OUTCOMES = ("created", "updated", "unchanged", "rejected")
PAGE_SIZE = 100  # products per catalog page: one index Query and one BatchGetItem
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")  # int() alone would also take "1_000" and "+5"


@contextlib.contextmanager
def csv_output(path: str | None) -> Iterator[IO[str]]:
    """The file to write (created or replaced), or stdout when None or "-"."""
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        out = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as error:
        sys.exit(f"cannot write {path}: {error.strerror}")
    with out:
        yield out


def every_product() -> Iterator[Any]:
    """Every product of the catalog, in sku order, a page at a time."""
    from chalicelib.inventory import catalog

    after = None
    while True:
        page = catalog.list_products(catalog.CatalogQuery(), PAGE_SIZE, after)
        yield from page.items
        if page.last_key is None:
            return
        after = page.last_key


def product_row(product: Any) -> list[str]:
    return [
        product.sku,
        product.name,
        product.description or "",
        f"{product.price:.2f}",
        str(int(product.stock)),
        str(int(product.low_stock_threshold)),
    ]


def export_products(args: argparse.Namespace) -> None:
    db.bind()
    count = 0
    with csv_output(args.output) as out:
        writer = csv.writer(out)
        writer.writerow(PRODUCT_COLUMNS)
        for product in every_product():
            writer.writerow(product_row(product))
            count += 1
    print(
        f"{count} products exported{f' to {args.output}' if args.output else ''}", file=sys.stderr
    )


def since_date(text: str) -> datetime:
    """A --since date: midnight UTC of YYYY-MM-DD."""
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def export_movements(args: argparse.Namespace) -> None:
    from chalicelib.inventory.ledger import ledger_key
    from chalicelib.store.models import Movement

    db.bind()
    lowest = clock.first_id_at(args.since.timestamp())
    count = 0
    with csv_output(args.output) as out:
        writer = csv.writer(out)
        writer.writerow(MOVEMENT_COLUMNS)
        for product in every_product():
            # A key condition on the ULID range key: only the movements since then are read.
            for movement in Movement.query(
                ledger_key(product.sku, product.incarnation),
                Movement.id >= lowest,
                consistent_read=True,
                scan_index_forward=True,
            ):
                writer.writerow(
                    [
                        product.sku,
                        movement.at,
                        movement.kind,
                        int(movement.quantity_change),
                        movement.reference or "",
                        movement.actor or "",
                        movement.reason or "",
                        movement.note or "",
                    ]
                )
                count += 1
    where = f" to {args.output}" if args.output else ""
    print(f"{count} movements since {args.since:%Y-%m-%d} exported{where}", file=sys.stderr)


@dataclass(frozen=True)
class Row:
    """One line of a products CSV: its number (the header is row 1) and its cells by column."""

    number: int
    cells: dict[str, str]
    stray: int = 0  # non-empty cells under no column


@dataclass(frozen=True)
class Outcome:
    number: int
    sku: str
    outcome: str  # one of OUTCOMES
    detail: str = ""  # what changed, or why the row was rejected

    def line(self) -> str:
        sku = self.sku if re.fullmatch(r"\S+", self.sku) else repr(self.sku)
        return f"row {self.number:<5} {self.outcome:<9}  {sku}" + (
            f"  {self.detail}" if self.detail else ""
        )


class Rejected(Exception):
    """A row that cannot be imported; the message says why."""


def read_products_csv(path: str) -> list[Row]:
    """The rows of a products CSV; exits when the file or its header cannot be used."""
    stdin = path == "-"
    try:
        source: IO[str] = open(  # noqa: SIM115 (closed below)
            sys.stdin.fileno() if stdin else path,
            newline="",
            encoding="utf-8-sig",
            closefd=not stdin,
        )
    except OSError as error:
        sys.exit(f"cannot read {path}: {error.strerror}")
    try:
        with source:
            records = list(csv.reader(source))
    except UnicodeDecodeError:
        sys.exit(f"{path}: not UTF-8 text")
    except csv.Error as error:
        sys.exit(f"{path}: not CSV: {error}")
    expected = ",".join(PRODUCT_COLUMNS)
    if not records or not any(cell.strip() for cell in records[0]):
        sys.exit(f"{path}: no header line; the columns are {expected}")
    header = [name.strip() for name in records[0]]
    named = [name for name in header if name]
    unknown = sorted(set(named) - set(PRODUCT_COLUMNS))
    twice = sorted({name for name in named if named.count(name) > 1})
    missing = [name for name in REQUIRED_COLUMNS if name not in named]
    for problem, names in (("unknown", unknown), ("repeated", twice), ("missing", missing)):
        if names:
            sys.exit(f"{path}: {problem} column(s) {', '.join(names)}; the columns are {expected}")
    columns = {position: name for position, name in enumerate(header) if name}
    rows = []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # a blank line, or a spreadsheet's empty row
        cells = {name: record[i] if i < len(record) else "" for i, name in columns.items()}
        stray = sum(1 for i, cell in enumerate(record) if i not in columns and cell.strip())
        rows.append(Row(number, cells, stray))
    return rows


def parse_row(row: Row) -> tuple[Any, set[str]]:
    """The row as the API's ProductIn (its defaults for empty optional cells), and the columns
    whose cells it gave; Rejected with every problem of the row, in column order."""
    from pydantic import ValidationError

    from chalicelib.schemas import ProductIn

    if row.stray:
        raise Rejected(f"{row.stray} cell(s) under no column")
    given: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, text in row.cells.items():
        if name in WHOLE_NUMBER_COLUMNS:
            if not text.strip():
                continue
            if not _WHOLE_NUMBER.fullmatch(text.strip()):
                problems[name] = f"must be a whole number, not {text!r}"
                continue
            given[name] = int(text.strip())
        elif name == "description" and text == "":
            continue
        else:
            given[name] = text  # as typed: the API's rules decide (price: text -> Decimal)
    try:
        product = ProductIn.model_validate(given)
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "row"
            problems.setdefault(where, problem["msg"].removeprefix("Value error, "))
        product = None
    if problems:
        order = {name: i for i, name in enumerate(PRODUCT_COLUMNS)}
        shown = sorted(problems.items(), key=lambda item: order.get(item[0], len(order)))
        raise Rejected("; ".join(f"{where}: {message}" for where, message in shown))
    return product, set(given)


def duplicate_skus(rows: list[Row]) -> dict[str, list[int]]:
    """Skus on more than one row, with their row numbers: none of those rows is imported."""
    numbers: dict[str, list[int]] = {}
    for row in rows:
        if row.cells.get("sku"):
            numbers.setdefault(row.cells["sku"], []).append(row.number)
    return {sku: found for sku, found in numbers.items() if len(found) > 1}


def changed_fields(current: Any, wanted: Any, given: set[str]) -> dict[str, Any]:
    """The catalog fields the row gives a new value."""
    from chalicelib.inventory.catalog import EDITABLE

    return {
        name: getattr(wanted, name)
        for name in EDITABLE
        if name in given and getattr(wanted, name) != getattr(current, name)
    }


def apply_row(actor_id: str, wanted: Any, given: set[str]) -> tuple[str, str]:
    """Create, update or leave the product; the outcome and what changed."""
    from chalicelib.errors import NotFound
    from chalicelib.inventory import adjustments, catalog, idempotency, products
    from chalicelib.inventory.adjustments import Adjustment
    from chalicelib.vocabulary import AdjustmentReason

    try:
        current = catalog.get_product(wanted.sku)
    except NotFound:
        products.create_product(actor_id, **wanted.model_dump())
        return "created", ""
    fields = changed_fields(current, wanted, given)
    stock = int(current.stock)
    counted = wanted.stock if "stock" in given and wanted.stock != stock else None
    if counted is None and not fields:
        return "unchanged", ""  # nothing written
    if counted is None:
        products.update_product(actor_id, wanted.sku, fields)
        return "updated", ", ".join(fields)
    # One write: the fields and the counted stock, if the stock is still the one read.
    count = Adjustment(AdjustmentReason.COUNT, set_to=counted, expected_stock=stock)
    adjustments.adjust(actor_id, wanted.sku, count, idempotency.NO_KEY, fields)
    return "updated", ", ".join([*fields, f"stock {stock} -> {counted}"])


def import_row(actor_id: str, row: Row, duplicates: dict[str, list[int]]) -> Outcome:
    from chalicelib.errors import AppError

    sku = row.cells.get("sku", "")
    try:
        if sku in duplicates:
            raise Rejected(f"duplicate sku: on rows {', '.join(map(str, duplicates[sku]))}")
        wanted, given = parse_row(row)
        outcome, detail = apply_row(actor_id, wanted, given)
    except Rejected as why:
        return Outcome(row.number, sku, "rejected", str(why))
    except AppError as error:  # the API's answer would have been this error
        details = f" {json.dumps(error.details, default=str)}" if error.details else ""
        return Outcome(row.number, sku, "rejected", f"{error.code}: {error.message}{details}")
    return Outcome(row.number, sku, outcome, detail)


def find_actor(email: str) -> str:
    """The id of the admin the movements and changes are recorded for; exits if there is none."""
    from chalicelib.auth import users
    from chalicelib.vocabulary import Role

    user = users.find_by_email(email)
    if user is None:
        sys.exit(f"--actor: no user has the email {email}")
    if not user.active:
        sys.exit(f"--actor: {email} is deactivated")
    if user.role != Role.ADMIN:
        sys.exit(f"--actor: {email} is {user.role}, not admin: only admins edit the catalog")
    return user.id


def import_products(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    email = args.actor or os.environ.get("ADMIN_EMAIL")
    if not email:
        sys.exit(
            "import-products: give --actor EMAIL (an admin: the changes are recorded as "
            "theirs) or set ADMIN_EMAIL"
        )
    rows = read_products_csv(args.file)
    db.bind()
    actor_id = find_actor(email)
    duplicates = duplicate_skus(rows)
    counts = dict.fromkeys(OUTCOMES, 0)
    for row in tqdm(rows, desc="importing products", unit="row"):  # on stderr
        done = import_row(actor_id, row, duplicates)
        counts[done.outcome] += 1
        tqdm.write(done.line(), file=sys.stdout)
    summary = ", ".join(f"{counts[outcome]} {outcome}" for outcome in OUTCOMES)
    print(f"{len(rows)} rows: {summary}")
    if counts["rejected"]:
        sys.exit(1)
