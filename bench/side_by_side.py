"""Search latency of two checkouts on the same index version, measured alternately on one machine.

Builds one version of ``--size`` synthetic products (realistic fields: titles of 40-80 characters, 200
categories, 50 brands, gamma-distributed prices, 85 % in stock) with this checkout, and adds to it the
``products.jsonl`` that versions held before the product table, so older checkouts open it too. Then, for
``--rounds`` rounds, each checkout in turn runs in a fresh process with its tree first on ``sys.path``:
open the version, then p50/p99 of unfiltered searches (k = 10) and of searches filtered to a price band
holding 1 % of the catalog (which must return exactly k), all through ``IndexStore.search``. Both checkouts
must return the same products for every query. A checkout's figure is the median over its rounds.

    .venv/bin/python bench/side_by_side.py --size 1000000 --before /path/to/old/checkout [--rounds 3]
    .venv/bin/python bench/side_by_side.py --size 5000000            # this checkout only

``git worktree add /tmp/before <commit>`` makes the old checkout; both use this virtualenv.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TITLE_WORDS = ("silk satin velvet linen cotton wool cashmere leather suede denim lace floral striped pleated "
               "cropped oversized tailored vintage classic matte gloss red green navy ivory black camel "
               "midi maxi mini wrap slip shirt dress skirt coat boot sandal loafer tote clutch scarf belt").split()


def build(root: Path, size: int, queries: int, legacy: bool) -> None:
    """The version (this checkout's writer), its legacy products.jsonl when an old checkout will read it, and
    the queries and filter band."""
    sys.path.insert(0, str(HERE))
    import numpy as np
    import pyarrow.ipc
    from common import clustered_unit_vectors

    from indexer.records import Manifest, Product, VectorStoreConfig
    from indexer.stores.backends import VectorStores
    from indexer.stores.product_table import TABLE_FILE
    from indexer.stores.versions import now_iso, write_version

    rng = np.random.default_rng(0)
    vectors = clustered_unit_vectors(size, seed=1)
    picked = rng.integers(0, size, queries)
    query_vectors = vectors[picked] + 0.015 * rng.normal(size=(queries, vectors.shape[1]))
    np.save(root / "queries.npy", (query_vectors / np.linalg.norm(query_vectors, axis=1, keepdims=True))
            .astype(np.float32))
    words = np.array(TITLE_WORDS)
    title_words = words[rng.integers(0, len(words), (size, 10))]
    lengths = rng.integers(40, 81, size)
    prices = rng.gamma(2.0, 40.0, size).round(2)
    prices[rng.random(size) < 0.02] = np.nan
    categories, brands, stock = rng.integers(0, 200, size), rng.integers(0, 50, size), rng.random(size) < 0.85
    products = [Product(id=f"sku-{i}", title=" ".join(title_words[i])[:lengths[i]], image=f"/srv/shop/{i}.jpg",
                        category=f"category {categories[i]}", brand=f"Brand {brands[i]}",
                        price=None if prices[i] != prices[i] else float(prices[i]), currency="EUR",
                        url=f"https://shop.example/p/sku-{i}", in_stock=bool(stock[i]), line=i + 2)
                for i in range(size)]
    low, high = np.nanquantile(prices, [0.50, 0.51])
    manifest = Manifest(version="", model_id="bench@0", model="bench", pretrained="none", dim=vectors.shape[1],
                        count=size, index_type="", catalog="bench", catalog_checksum="0", created=now_iso())
    tick = time.perf_counter()
    version = write_version(root, products, vectors, manifest, [], VectorStores(VectorStoreConfig(), root))
    print(f"  built {version.name} ({manifest.index_type or 'auto'}) in {time.perf_counter() - tick:.0f} s",
          flush=True)
    del products, vectors
    if legacy:  # what versions held before the table, for the old checkout
        table = pyarrow.ipc.open_file(str(version / TABLE_FILE)).read_all().drop_columns(["id_order", "price_order"])
        with open(version / "products.jsonl", "w") as handle:
            for batch in table.to_batches(100_000):
                for record in batch.to_pylist():
                    record["price"] = None if record["price"] != record["price"] else record["price"]
                    kept = {key: value for key, value in record.items() if value not in (None, "")}
                    handle.write(json.dumps(kept) + "\n")
    # written last: its presence tells a later --keep run that the build finished
    (root / "band.json").write_text(json.dumps({"min_price": float(low), "max_price": float(high)}))


def measure(root: Path, tree: Path, hide_table: bool) -> dict:
    """Runs in the checkout's own process: nothing of the other checkout is imported."""
    sys.path.insert(0, str(tree))
    import numpy as np

    from indexer.stores import index_store
    from indexer.stores.filters import SearchFilters

    assert Path(index_store.__file__).resolve().is_relative_to(tree.resolve()), index_store.__file__
    queries = np.load(root / "queries.npy")
    band = SearchFilters(**json.loads((root / "band.json").read_text()))
    versions = sorted(path for path in root.iterdir() if (path / "manifest.json").exists())
    table = versions[-1] / "products.arrow"
    if hide_table:  # an old checkout would not look for it, but make sure
        table.rename(table.with_suffix(".hidden"))
    try:
        tick = time.perf_counter()
        store = index_store.IndexStore.open(root)
        opened = time.perf_counter() - tick
        unfiltered, filtered, answers, counts = [], [], [], set()
        for query in queries:
            tick = time.perf_counter()
            hits = store.search(query, 10)
            unfiltered.append(time.perf_counter() - tick)
            answers.append([hit.product.id for hit in hits])
        for query in queries[:100]:
            tick = time.perf_counter()
            hits = store.search(query, 10, band)
            filtered.append(time.perf_counter() - tick)
            counts.add(len(hits))
            answers.append([hit.product.id for hit in hits])
    finally:
        if hide_table:
            table.with_suffix(".hidden").rename(table)
    quantile = lambda samples, q: float(np.percentile(samples, q) * 1000)  # noqa: E731
    return {"open_s": opened, "p50": quantile(unfiltered, 50), "p99": quantile(unfiltered, 99),
            "filter_p50": quantile(filtered, 50), "filter_p99": quantile(filtered, 99), "counts": sorted(counts),
            "answers": answers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--before", type=Path, help="an older checkout to compare with (git worktree)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--dir", default=None, help="where to build (about 2.2 GB per million products)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="build into this folder and keep it; a later run with the same --keep and --size "
                             "measures again without rebuilding")
    parser.add_argument("--measure", nargs=3, metavar=("ROOT", "TREE", "HIDE_TABLE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        root, tree, hide = args.measure
        print(json.dumps(measure(Path(root), Path(tree), hide == "1")))
        return
    sys.path.insert(0, str(HERE))
    from common import machine

    trees = {"this checkout": (HERE.parent, "0")}
    if args.before:
        trees = {f"before ({args.before})": (args.before, "1"), **trees}
    print(f"# {machine()}, {args.size:,} products, {args.rounds} rounds, {args.queries} queries")
    with contextlib.ExitStack() as stack:
        root = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(dir=args.dir)))
        if not (root / "band.json").exists():
            root.mkdir(parents=True, exist_ok=True)
            build(root, args.size, args.queries, legacy=args.before is not None)
        runs: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, (tree, hide) in trees.items():
                output = subprocess.run([sys.executable, __file__, "--measure", str(root), str(tree), hide],
                                        check=True, capture_output=True, text=True).stdout
                runs[name].append(json.loads(output.splitlines()[-1]))
    print("| checkout | open (s) | p50 (ms) | p99 (ms) | 1 % filter p50 (ms) | 1 % filter p99 (ms) | results |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, results in runs.items():
        middle = {key: statistics.median(run[key] for run in results)
                  for key in ("open_s", "p50", "p99", "filter_p50", "filter_p99")}
        counts = sorted({count for run in results for count in run["counts"]})
        print(f"| {name} | {middle['open_s']:.2f} | {middle['p50']:.2f} | {middle['p99']:.2f} "
              f"| {middle['filter_p50']:.2f} | {middle['filter_p99']:.2f} "
              f"| {'always 10' if counts == [10] else counts} |")
    if len(runs) == 2:
        before, after = (runs[name] for name in trees)
        same = all(run["answers"] == before[0]["answers"] for run in (*before, *after))
        ratio = statistics.median(run["p50"] for run in after) / statistics.median(run["p50"] for run in before)
        print(f"\nunfiltered p50, this checkout / before: **{ratio:.2f}x**; same products for every query: {same}")


if __name__ == "__main__":
    main()
