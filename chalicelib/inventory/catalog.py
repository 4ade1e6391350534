"""The catalog's reads: one product, and pages sorted by sku or by name, searched by prefix and
filtered by stock level, without a Scan.

Every page is read from an index built for its order, then its products in one BatchGetItem:

- no `q`, no `stock`: one Query of `by_sku` or `by_name` (limit + 1 keys after the cursor);
- `q`: one Query each of `by_sku_key` and `by_name` (`begins_with` the lower-cased `q`), all their
  matches as keys (a few hundred bytes each: thousands per request), merged in the page's order;
- `stock`: one Query per shard of `low_stock` (`headroom < 0`, or `<= 0` for `out`), every low
  product's small entry, filtered by `q`, in the page's order: its cost grows with the number
  of low products, as the low-stock check's does, not with the catalog. Products in stock parts
  are not in it: a Query of `by_sharding` names them and their totals are read (a few skus).

The catalog indexes have keys that only a create, a rename or a delete changes: no stock change
writes them. `low_stock`, which every stock change does write, is split by `alert_shard` and
carries only `LOW_STOCK_FIELDS` (never the description).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.alerts import episodes
from chalicelib.errors import NotFound
from chalicelib.settings import get_settings
from chalicelib.store import parts
from chalicelib.store.models import EVERY, Product
from chalicelib.store.pages import Page
from chalicelib.store.transact import read_batch
from chalicelib.vocabulary import CatalogSort, StockFilter

EDITABLE = ("name", "description", "price", "low_stock_threshold")
SEP = "\0"  # below every character a name may hold: "Anvil" sorts before "Anvil 2"


def fold(text: str) -> str:
    """The case-insensitive form names, skus and searches are compared in."""
    return text.lower()


def keys(sku: str, name: str) -> dict[str, Any]:
    """The catalog index attributes of a product with this sku and name."""
    return {
        "listed": EVERY,
        "name_key": f"{fold(name)}{SEP}{sku}",
        "sku_key": f"{fold(sku)}{SEP}{sku}",
    }


def field_actions(sku: str, fields: dict[str, Any], now: str) -> list[Any]:
    """The update actions that set catalog `fields` (any of EDITABLE), and the name's key."""
    actions = [getattr(Product, name).set(value) for name, value in fields.items()]
    if "name" in fields:
        actions.append(Product.name_key.set(keys(sku, fields["name"])["name_key"]))
    return actions + [Product.updated_at.set(now)]


def get_product(sku: str) -> Product:
    """The product (strongly consistent) as its totals: one BatchGetItem with its parts."""
    product = read_batch([sku]).products.get(sku)
    if product is None:
        raise NotFound("No product has this sku")
    return product


@dataclass(frozen=True)
class CatalogQuery:
    sort: CatalogSort = CatalogSort.SKU
    q: str | None = None
    stock: StockFilter | None = None

    @property
    def scope(self) -> str:
        """What a cursor of this query is bound to."""
        return f"products:{self.sort}:{self.stock or ''}:{self.q or ''}"


@dataclass(frozen=True)
class Entry:
    """A product as an index shows it: enough to order, search and filter it."""

    sku: str
    name_key: str

    def key(self, sort: CatalogSort) -> str:
        return self.sku if sort == CatalogSort.SKU else self.name_key

    def matches(self, q: str) -> bool:
        # The name is what comes before the last separator (a sku never holds one).
        name = self.name_key.rsplit(SEP, 1)[0]
        return fold(self.sku).startswith(fold(q)) or name.startswith(fold(q))


def _entry(item: Any) -> Entry:
    name_key = item.name_key
    if name_key is None and getattr(item, "name", None) is not None:
        name_key = keys(item.sku, item.name)["name_key"]  # a product `migrate` has not reached
    return Entry(item.sku, name_key or "")


def still_matches(product: Product, query: CatalogQuery) -> bool:
    """The product as read matches the query (the indexes are eventually consistent: an entry
    may be older than a rename or a stock change)."""
    if query.q is not None and not _entry(product).matches(query.q):
        return False
    return query.stock is None or in_stock_filter(product, query.stock)


def in_stock_filter(product: Product, stock: StockFilter) -> bool:
    """low: available below the threshold; out: nothing available (a product or its
    low_stock entry, which carries both)."""
    if stock == StockFilter.LOW:
        return episodes.is_low(product.available, product.low_stock_threshold)
    return product.available == 0


def list_products(query: CatalogQuery, limit: int, after: str | None) -> Page[Product]:
    if query.stock is None and query.q is None:
        found = _in_order(query.sort, limit, after)
    else:
        entries = _stock_entries(query.stock) if query.stock else _matches(query.q or "")
        if query.q is not None:
            entries = [entry for entry in entries if entry.matches(query.q)]
        found = sorted(
            (e for e in entries if after is None or e.key(query.sort) > after),
            key=lambda e: e.key(query.sort),
        )[: limit + 1]
    shown = found[:limit]
    products = read_batch([entry.sku for entry in shown]).products
    # An entry whose product was deleted or no longer matches is left out (a shorter page).
    items = [
        products[entry.sku]
        for entry in shown
        if entry.sku in products and still_matches(products[entry.sku], query)
    ]
    return Page(items, shown[-1].key(query.sort) if len(found) > limit else None)


def _in_order(sort: CatalogSort, limit: int, after: str | None) -> list[Entry]:
    index, attribute = (
        (Product.by_sku, Product.sku)
        if sort == CatalogSort.SKU
        else (Product.by_name, Product.name_key)
    )
    condition = attribute > after if after is not None else None
    return [_entry(item) for item in index.query(EVERY, condition, limit=limit + 1)]


def _matches(q: str) -> list[Entry]:
    """Every product whose sku or name starts with `q` (case-insensitively), as index keys."""
    folded = fold(q)
    found: dict[str, Entry] = {}
    sources: Iterable[Any] = (
        Product.by_sku_key.query(EVERY, Product.sku_key.startswith(folded)),
        Product.by_name.query(EVERY, Product.name_key.startswith(folded)),
    )
    for source in sources:
        for item in source:
            found.setdefault(item.sku, _entry(item))
    return list(found.values())


def _stock_entries(stock: StockFilter) -> list[Entry]:
    """Every product whose available units are low (below its threshold) or out (zero): the
    index's, and the sharded products' (in no index: their totals are read)."""
    condition = Product.headroom < 0 if stock == StockFilter.LOW else Product.headroom <= 0
    found: dict[str, Entry] = {}  # by sku: a product just split may still have its entry
    for shard in range(get_settings().low_stock_shards):
        for item in Product.low_stock.query(shard, condition):
            if in_stock_filter(item, stock):  # `out`: the key condition also read the low
                found[item.sku] = _entry(item)
    sharded = parts.sharded_skus()
    if sharded:
        for product in read_batch(sharded).products.values():
            if parts.is_sharded(product) and in_stock_filter(product, stock):
                found[product.sku] = _entry(product)
    return list(found.values())
