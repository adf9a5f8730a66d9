"""The products of one index version as a columnar, memory-mapped table (Apache Arrow IPC file).

Every server worker maps the same file, so the operating system's page cache holds one copy for the whole
box however many workers read it, the way Lucene's doc values and Milvus's scalar fields work. Nothing is
turned into Python objects when a version opens: a ``Product`` is built only for a row a response returns,
filters are numpy comparisons over the mapped columns, and a product id is found by binary search over an
id order stored beside the ids.

Versions written before this table (``products.jsonl`` only) are read into the same table in memory, as
they always were, so they keep serving until the next ``shoplens index``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from indexer.records import Product
from indexer.stores.filters import FilterColumns
from indexer.stores.vector_store import CorruptIndex
from vision.looks import Finish, ProductType

TABLE_FILE = "products.arrow"
LEGACY_FILE = "products.jsonl"
_TEXT = pa.large_string()  # 64-bit offsets: a column of one record batch may pass 2 GB at tens of millions
_LABEL = pa.dictionary(pa.int32(), pa.string())  # few distinct values over millions of rows
SCHEMA = pa.schema([
    ("id", _TEXT), ("title", _TEXT), ("image", _TEXT), ("line", pa.int64()), ("category", _LABEL),
    ("brand", _LABEL), ("price", pa.float64()), ("currency", _LABEL), ("url", _TEXT), ("in_stock", pa.bool_()),
    ("product_type", _LABEL), ("shade_hex", _TEXT), ("finish", _LABEL), ("faiss_id", pa.int64()),
    ("id_order", pa.int64()),  # rows sorted by id: the binary search behind ``row_of``
    ("price_order", pa.int64()),  # rows sorted by price, unpriced last: a price range is one slice of it
    ("group", _TEXT), ("options", _TEXT),  # options: the variant's option values as a JSON list of pairs
    ("group_row", pa.int64()),  # the row of the group's first variant (its own row when alone): never falls
])
_VARIANT_COLUMNS = ("group", "options", "group_row")
# Tables written before variants (every product alone) and before ``price_order`` (price filters then compare
# every row) are read as they are.
SCHEMA_WITHOUT_VARIANTS = pa.schema([field for field in SCHEMA if field.name not in _VARIANT_COLUMNS])
SCHEMA_WITHOUT_PRICE_ORDER = pa.schema([field for field in SCHEMA_WITHOUT_VARIANTS if field.name != "price_order"])
OLDER_SCHEMAS = (SCHEMA_WITHOUT_VARIANTS, SCHEMA_WITHOUT_PRICE_ORDER)
_LABELS = ("category", "brand", "currency", "product_type", "finish")


def product_table(products: Sequence[Product], faiss_ids: np.ndarray) -> pa.Table:
    """The Arrow table of ``products`` (price NaN when missing: a plain column maps without copying)."""
    ids = [product.id for product in products]
    prices = np.array([np.nan if p.price is None else p.price for p in products], np.float64)
    columns = {
        "id": pa.array(ids, _TEXT),
        "title": pa.array([p.title for p in products], _TEXT),
        "image": pa.array([p.image for p in products], _TEXT),
        "line": pa.array([p.line for p in products], pa.int64()),
        "category": _labels([p.category for p in products]),
        "brand": _labels([p.brand for p in products]),
        "price": pa.array(prices),
        "currency": _labels([p.currency for p in products]),
        "url": pa.array([p.url for p in products], _TEXT),
        "in_stock": pa.array([bool(p.in_stock) for p in products], pa.bool_()),
        "product_type": _labels([p.product_type.value if p.product_type else "" for p in products]),
        "shade_hex": pa.array([p.shade_hex for p in products], _TEXT),
        "finish": _labels([p.finish.value if p.finish else "" for p in products]),
        "faiss_id": pa.array(np.asarray(faiss_ids, np.int64)),
        "id_order": pa.array(np.argsort(np.array(ids, dtype=object), kind="stable").astype(np.int64)),
        "price_order": pa.array(np.argsort(prices, kind="stable").astype(np.int64)),  # NaN sorts last
        "group": pa.array([p.group for p in products], _TEXT),
        "options": pa.array([json.dumps(p.options, ensure_ascii=False) if p.options else "" for p in products], _TEXT),
        "group_row": pa.array(group_rows(products)),
    }
    return pa.table(columns, schema=SCHEMA)


def group_rows(products: Sequence[Product]) -> np.ndarray:
    """Each product's group as the row of its first variant.

    :raise ValueError: when a group's variants are not consecutive (``catalog.variants_together`` makes them so).
    """
    rows = np.arange(len(products), dtype=np.int64)
    first: dict[str, int] = {}
    for row, product in enumerate(products):
        if not product.group:
            continue
        lead = first.setdefault(product.group, row)
        if lead != row and products[row - 1].group != product.group:
            raise ValueError(f"The variants of group {product.group!r} are not consecutive rows.")
        rows[row] = lead
    return rows


def group_range(group_of: np.ndarray | None, row: int) -> range:
    """The rows of ``row``'s group: consecutive, from its first row (``group_of`` None: every row alone)."""
    if group_of is None:
        return range(row, row + 1)
    lead = int(group_of[row])
    return range(lead, int(np.searchsorted(group_of, lead, side="right")))


def write_product_table(path: Path, products: Sequence[Product], faiss_ids: np.ndarray) -> None:
    """Write the table uncompressed: compressed buffers could not be mapped, only copied."""
    table = product_table(products, faiss_ids)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, SCHEMA) as writer:
        writer.write_table(table)  # one record batch: more would have to be joined (copied) to be searched


class ProductTable:
    """A version's products, by row (the row numbers the vector stores return)."""

    def __init__(self, table: pa.Table, source: str):
        """:raise CorruptIndex: when the columns are not the ones this code writes."""
        if not any(table.schema.equals(schema) for schema in (SCHEMA, *OLDER_SCHEMAS)):
            raise CorruptIndex(f"{source} has columns {table.schema.names}, not this version's {SCHEMA.names}.")
        self.source = source
        self._table = table.combine_chunks() if table.num_rows and _chunks(table) > 1 else table
        self._order = _numpy(self._table.column("id_order"))
        self.faiss_ids = _numpy(self._table.column("faiss_id"))
        self._in_stock = np.asarray(self._table.column("in_stock").to_numpy(), bool)  # bit-packed: 1 byte a row
        self._rows = _RowReader(self._table, self._in_stock)
        self._ids = self._rows.text["id"]
        self._filters: FilterColumns | None = None
        # each row's group as its first row, non-decreasing (a group's rows are consecutive), so a group is a
        # binary search; None for tables written before variants
        self.group_of = (_numpy(self._table.column("group_row")) if "group_row" in self._table.schema.names
                         else None)

    @classmethod
    def open(cls, folder: Path) -> "ProductTable":
        """Map ``products.arrow``, or read a version written before it (``products.jsonl``).

        :raise CorruptIndex: for a missing, torn or truncated file, naming it.
        """
        path = folder / TABLE_FILE
        if path.exists():
            try:
                table = pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
            except (OSError, pa.ArrowException) as exc:
                raise CorruptIndex(f"Index version {folder.name}: {TABLE_FILE} is damaged ({exc}); rebuild the "
                                   "version with `shoplens index`.") from exc
            return cls(table, str(path))
        legacy = folder / LEGACY_FILE
        try:
            with open(legacy, encoding="utf-8") as handle:
                records = [json.loads(line) for line in handle if line.strip()]
            products = [Product.from_record(record) for record in records]
            ids = np.array([record["faiss_id"] for record in records], dtype=np.int64)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise CorruptIndex(f"Index version {folder.name} cannot be loaded: {exc}") from exc
        return cls(product_table(products, ids), str(legacy))

    def __len__(self) -> int:
        return self._table.num_rows

    def __getitem__(self, row: int) -> Product:
        if not 0 <= row < len(self):
            raise IndexError(row)
        return self._rows.product(int(row))

    def __iter__(self) -> Iterator[Product]:
        for start in range(0, len(self), 4096):
            yield from self.take(range(start, min(start + 4096, len(self))))

    def take(self, rows: Iterable[int]) -> list[Product]:
        """The products of ``rows``, in that order."""
        return self._rows.products(np.fromiter(rows, np.int64))

    def row_of(self, product_id: str) -> int | None:
        """The row of ``product_id``, or None (a binary search: O(log n) string comparisons)."""
        low, high = 0, len(self._order)
        while low < high:
            middle = (low + high) // 2
            value = self._ids.value(int(self._order[middle]))
            if value < product_id:
                low = middle + 1
            else:
                high = middle
        if low < len(self._order):
            row = int(self._order[low])
            if self._ids.value(row) == product_id:
                return row
        return None

    def variant_rows(self, row: int) -> range:
        """Every row of ``row``'s group, in catalog order (just ``row`` for a product without variants)."""
        return group_range(self.group_of, row)

    def rows_with_shades(self, product_types: Iterable[str]) -> list[Product]:
        """Products of these makeup types that carry a shade (swatches, shade matching)."""
        wanted = {value.lower() for value in product_types}
        types = self.filter_columns()
        mask = np.zeros(len(self), bool)
        for value in wanted:
            mask |= types.label_equals("product_type", value)
        shades = _single(self._table.column("shade_hex"))
        mask &= np.asarray(pc.not_equal(shades, "").to_numpy(zero_copy_only=False), bool)
        return self.take(np.flatnonzero(mask))

    def filter_columns(self) -> FilterColumns:
        """The filterable columns as numpy arrays over the mapped buffers (labels as dictionary codes); built
        once, shared by the vector store's filters and the shade lists."""
        if self._filters is None:
            labels = {}
            for name in ("category", "brand", "product_type"):
                column = _single(self._table.column(name))
                labels[name] = (_numpy(column.indices), [value.as_py() for value in column.dictionary])
            price_order = (_numpy(self._table.column("price_order"))
                           if "price_order" in self._table.schema.names else None)
            self._filters = FilterColumns(len(self), labels, _numpy(self._table.column("price")), self._in_stock,
                                          price_order)
        return self._filters


def _labels(values: list[str]) -> pa.DictionaryArray:
    return pa.array(values, pa.string()).dictionary_encode()


def _chunks(table: pa.Table) -> int:
    return max(column.num_chunks for column in table.columns)


def _single(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array: its only chunk as it is (mapped), or the chunks joined (a copy)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A primitive column as numpy, without copying when it has one chunk and no nulls (the mapped case)."""
    if isinstance(column, pa.ChunkedArray):
        column = _single(column)
    return column.to_numpy(zero_copy_only=False)


class _RowReader:
    """Reads rows' fields straight from the column buffers (numpy views), far cheaper than Arrow scalars: a
    search answer builds its ``Product``s in tens of microseconds. Each field is gathered for all the rows at
    once (one numpy index and one ``tolist`` per column, not per row and column), and the enum labels are
    converted once per dictionary entry."""

    def __init__(self, table: pa.Table, in_stock: np.ndarray):
        names = ("id", "title", "image", "url", "shade_hex", *(("group", "options") if "group" in table.schema.names
                                                                 else ()))
        self.text = {name: _TextColumn(_single(table.column(name))) for name in names}
        self._labels = {}
        for name in _LABELS:
            column = _single(table.column(name))
            self._labels[name] = (_numpy(column.indices), [value.as_py() or "" for value in column.dictionary])
        self._enums = {name: [kind(value) if value else None for value in self._labels[name][1]]
                       for name, kind in (("product_type", ProductType), ("finish", Finish))}
        self._line = _numpy(table.column("line"))
        self._price = _numpy(table.column("price"))
        self._in_stock = in_stock

    def products(self, rows: np.ndarray) -> list[Product]:
        if not len(rows):
            return []
        text = self.text
        codes = {name: codes[rows].tolist() for name, (codes, _) in self._labels.items()}
        category, brand, currency = ([self._labels[name][1][code] for code in codes[name]]
                                     for name in ("category", "brand", "currency"))
        kinds, finishes = ([values[code] for code in codes[name]] for name, values in self._enums.items())
        prices = [None if price != price else price for price in self._price[rows].tolist()]
        ends = rows + 1
        if "group" in text:
            groups = text["group"].values(rows, ends)
            options = [_options(value) for value in text["options"].values(rows, ends)]
        else:
            groups, options = [""] * len(rows), [()] * len(rows)
        columns = zip(text["id"].values(rows, ends), text["title"].values(rows, ends),
                      text["image"].values(rows, ends), self._line[rows].tolist(), category, brand, prices, currency,
                      text["url"].values(rows, ends), self._in_stock[rows].tolist(), kinds,
                      text["shade_hex"].values(rows, ends), finishes)
        return [Product(*fields, group=group, options=option)
                for fields, group, option in zip(columns, groups, options)]

    def product(self, row: int) -> Product:
        text = {name: column.value(row) for name, column in self.text.items()}
        label = {name: dictionary[codes[row]] for name, (codes, dictionary) in self._labels.items()}
        price = float(self._price[row])
        return Product(id=text["id"], title=text["title"], image=text["image"], line=int(self._line[row]),
                       category=label["category"], brand=label["brand"], price=None if price != price else price,
                       currency=label["currency"], url=text["url"], in_stock=bool(self._in_stock[row]),
                       product_type=ProductType(label["product_type"]) if label["product_type"] else None,
                       shade_hex=text["shade_hex"], finish=Finish(label["finish"]) if label["finish"] else None,
                       group=text.get("group", ""), options=_options(text.get("options", "")))


def _options(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, value) for name, value in json.loads(text)) if text else ()


class _TextColumn:
    """A large_string column as its offsets (int64) and UTF-8 bytes, both views of the Arrow buffers."""

    def __init__(self, array: pa.Array):
        if array.null_count:
            raise CorruptIndex("A text column of the product table has missing values.")
        _, offsets, data = array.buffers()
        self._offsets = np.frombuffer(offsets, np.int64)[array.offset: array.offset + len(array) + 1]
        self._data = memoryview(data) if data is not None else memoryview(b"")

    def value(self, row: int) -> str:
        return str(self._data[self._offsets[row]:self._offsets[row + 1]], "utf-8")

    def values(self, rows: np.ndarray, ends: np.ndarray) -> list[str]:
        """The strings of ``rows`` (``ends`` is ``rows + 1``, computed once for all the columns)."""
        data, offsets = self._data, self._offsets
        return [str(data[start:end], "utf-8") for start, end in zip(offsets[rows].tolist(), offsets[ends].tolist())]
