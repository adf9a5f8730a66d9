"""Millions of products per box: what a server worker pays to hold a version's product table.

Writes a synthetic catalog (titles of 40-80 characters, 200 categories, 50 brands, prices, stock) as a
version's ``products.arrow`` at each size, then, in fresh processes, opens it the way a worker does
(``ProductTable.open`` + the filter columns + a product lookup), 4 workers at once, and reads each one's
memory from ``/proc/PID/smaps_rollup`` once all of them are open: the growth of its anonymous memory
(heap: what one more worker costs, since file pages are shared) and of its PSS (its share of everything
it maps), against the same process before opening. ``--legacy`` also measures a
version written the old way (``products.jsonl``, one Python object per product) for comparison.

Targets (issue #17): private RSS per worker <= 300 MB at 5M, open <= 2 s at 5M, 4 workers under 4 GB of
PSS in all.

    .venv/bin/python bench/product_table.py [--sizes 1000000 5000000] [--legacy 1000000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from common import in_worker_processes, machine, memory_kb  # noqa: E402

from indexer.records import Product
from indexer.stores.filters import SearchFilters
from indexer.stores.product_table import SCHEMA, TABLE_FILE, ProductTable

WORDS = ("silk satin linen leather suede wool cotton denim velvet cashmere red green blue black white ivory "
         "midi maxi mini wrap slip shirt dress skirt coat boot sandal loafer tote clutch scarf belt").split()


def synthetic_table(count: int, seed: int = 0) -> pa.Table:
    """Realistic columns, built with numpy (a Python object per row would be the thing being measured)."""
    rng = np.random.default_rng(seed)
    words = np.array(WORDS)
    title_words = words[rng.integers(0, len(words), (count, 10))]
    titles = [" ".join(row)[: 40 + int(extra)] for row, extra in zip(title_words, rng.integers(0, 41, count))]
    ids = np.char.add("sku-", np.arange(count).astype(str))
    categories = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 200, count, dtype=np.int32)),
                                                pa.array([f"category {i}" for i in range(200)]))
    brands = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 50, count, dtype=np.int32)),
                                            pa.array([f"Brand {i}" for i in range(50)]))
    price = rng.gamma(2.0, 40.0, count).round(2)
    price[rng.random(count) < 0.02] = np.nan
    empty = pa.DictionaryArray.from_arrays(pa.array(np.zeros(count, np.int32)), pa.array([""]))
    currency = pa.DictionaryArray.from_arrays(pa.array(np.zeros(count, np.int32)), pa.array(["EUR"]))
    columns = {
        "id": pa.array(ids, pa.large_string()), "title": pa.array(titles, pa.large_string()),
        "image": pa.array(np.char.add(np.char.add("/srv/shop/images/", ids), ".jpg"), pa.large_string()),
        "line": pa.array(np.arange(2, count + 2, dtype=np.int64)), "category": categories, "brand": brands,
        "price": pa.array(price), "currency": currency,
        "url": pa.array(np.char.add("https://shop.example/p/", ids), pa.large_string()),
        "in_stock": pa.array(rng.random(count) < 0.85), "product_type": empty,
        "shade_hex": pa.array([""] * count, pa.large_string()),
        "finish": empty, "faiss_id": pa.array(rng.integers(0, 2**62, count, dtype=np.int64)),
        "id_order": pa.array(np.argsort(ids, kind="stable").astype(np.int64)),
        "price_order": pa.array(np.argsort(price, kind="stable").astype(np.int64)),
        "group": pa.array([""] * count, pa.large_string()), "options": pa.array([""] * count, pa.large_string()),
        "group_row": pa.array(np.arange(count, dtype=np.int64)),
    }
    return pa.table(columns, schema=SCHEMA)


def write(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / TABLE_FILE).exists():
        table = synthetic_table(count)
        with pa.OSFile(str(folder / TABLE_FILE), "wb") as sink, pa.ipc.new_file(sink, SCHEMA) as writer:
            writer.write_table(table)
    return folder


def write_legacy(folder: Path, count: int) -> Path:
    """The same products as ``products.jsonl``, the format versions had before the table."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "products.jsonl"
    if not path.exists():
        table = synthetic_table(count)
        with open(path, "w") as handle:
            for start in range(0, count, 100_000):
                for record in table.slice(start, 100_000).to_pylist():
                    record.pop("id_order"), record.pop("price_order")
                    price = record["price"]
                    record["price"] = None if price != price else price
                    record["product_type"] = record["finish"] = None
                    handle.write(json.dumps(record) + "\n")
    return folder


def worker(folder: str, legacy: bool, queue, ready, hold) -> None:
    """Open a version like a server worker, touch what a search touches; report memory once all are open."""
    before = memory_kb()
    started = time.perf_counter()
    if legacy:
        search = LegacyProducts(Path(folder))
    else:
        search = TableProducts(Path(folder))
    opened = time.perf_counter() - started
    mask_times = []
    for category in ("category 7", "category 99", "category 150"):
        tick = time.perf_counter()
        kept = search.kept(category)
        mask_times.append(time.perf_counter() - tick)
    tick = time.perf_counter()
    assert search.lookup(f"sku-{search.count // 3}") == f"sku-{search.count // 3}"
    lookup = time.perf_counter() - tick
    ready.wait(600)  # every worker has mapped the file: shared pages now count as shared
    after = memory_kb()
    queue.put({"open_s": opened, "mask_ms": statistics.median(mask_times) * 1000, "kept": kept,
               "lookup_ms": lookup * 1000, "heap_mb": (after["Anonymous"] - before["Anonymous"]) / 1024,
               "pss_mb": (after["Pss"] - before["Pss"]) / 1024})
    hold.wait(600)


class TableProducts:
    """What ``IndexVersion`` does now: map the table, filter on its columns."""

    def __init__(self, folder: Path):
        self.table = ProductTable.open(folder)
        self.columns = self.table.filter_columns()
        self.count = len(self.table)

    def kept(self, category: str) -> float:
        return float(self.columns.mask(SearchFilters(category=category, in_stock=True)).mean())

    def lookup(self, product_id: str) -> str:
        row = self.table.row_of(product_id)
        return self.table.take(range(row, row + 20))[0].id


class LegacyProducts:
    """What ``IndexVersion`` did before the table (commit cb6d546): a Product per line, an id -> row dict,
    and the filter columns as numpy arrays."""

    def __init__(self, folder: Path):
        with open(folder / "products.jsonl", encoding="utf-8") as handle:
            self.products = [Product.from_record(json.loads(line)) for line in handle if line.strip()]
        self.row_of_id = {product.id: row for row, product in enumerate(self.products)}
        lookup: dict[str, int] = {}
        self.category = np.array([lookup.setdefault(p.category.lower(), len(lookup)) for p in self.products],
                                 np.int32)
        self.codes = lookup
        self.price = np.array([np.nan if p.price is None else p.price for p in self.products])
        self.in_stock = np.array([p.in_stock for p in self.products])
        self.count = len(self.products)

    def kept(self, category: str) -> float:
        return float(((self.category == self.codes[category]) & self.in_stock).mean())

    def lookup(self, product_id: str) -> str:
        row = self.row_of_id[product_id]
        return self.products[row].id


def measure(folder: Path, workers: int, legacy: bool = False) -> list[dict]:
    return in_worker_processes(worker, (str(folder), legacy), workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 5_000_000])
    parser.add_argument("--legacy", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--work-dir", default=str(Path(tempfile.gettempdir()) / "shoplens-bench"))
    args = parser.parse_args()
    work = Path(args.work_dir)
    print(f"# {machine()}")
    print("| products | format | open (s) | heap per worker (MB) | 4 workers: PSS in all (MB) | "
          "filter mask (ms) | id lookup + 20 rows (ms) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows = [(count, True, write_legacy(work / f"legacy-{count}", count)) for count in args.legacy]
    rows += [(count, False, write(work / f"table-{count}", count)) for count in args.sizes]
    for count, legacy, folder in rows:
        four = measure(folder, 4, legacy)
        print(f"| {count:,} | {'products.jsonl, Python objects (before)' if legacy else 'products.arrow, mapped'} | "
              f"{statistics.median(r['open_s'] for r in four):.2f} | {max(r['heap_mb'] for r in four):.0f} | "
              f"{sum(r['pss_mb'] for r in four):.0f} | {statistics.median(r['mask_ms'] for r in four):.1f} | "
              f"{statistics.median(r['lookup_ms'] for r in four):.2f} |", flush=True)

if __name__ == "__main__":
    main()
