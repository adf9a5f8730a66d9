"""Compressed IVF-PQ versions at 1M and 5M synthetic 512-d vectors, built and served the production way.

For each size: build time (training, adding, nprobe and re-rank depth tuning), file sizes, the memory
a serving process holds privately vs what it shares with other workers through the page cache (the
memory-mapped index and vectors), p50/p99 of one query through ``IndexStore.search`` and recall@10
against exact search on queries the tuning never saw, and p50 of a search filtered to 1 % of the
catalog (one price in a hundred), which must still return exactly k results.

    .venv/bin/python bench/compressed.py [--sizes 1000000 5000000] [--queries 300] [--factory F] [--dir /tmp]
                                         [--keep DIR]

``--keep DIR`` builds each size once into DIR/<size> and reuses it on later runs (a 5M build takes ~15 min).
``--workers N`` then opens the version in N fresh processes at once, as gunicorn workers do, each serving
100 searches and 50 filtered ones, and reports each one's open time and private memory, and the proportional
set size (PSS, from ``/proc/PID/smaps_rollup``) of all of them together.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import faiss
import numpy as np
from common import clustered_unit_vectors, in_worker_processes, machine, memory_kb, percentile_ms  # noqa: E402

from indexer.records import Manifest, Product, VectorStoreConfig
from indexer.stores.backends import VectorStores
from indexer.stores.filters import SearchFilters
from indexer.stores.index_store import IndexStore
from indexer.stores.versions import CURRENT, now_iso, write_version

FILTER_PRICE = 42  # prices are row % 100, so this keeps 1 % of the catalog, spread evenly over it


@contextmanager
def _version_folder(args: argparse.Namespace, size: int) -> Iterator[Path]:
    if args.keep is None:
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            yield Path(folder)
    else:
        folder = args.keep / str(size)
        folder.mkdir(parents=True, exist_ok=True)
        yield folder


def memory_mb() -> dict[str, float]:
    """Private (anonymous) and file-backed resident memory of this process, from /proc/self/status."""
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(("RssAnon:", "RssFile:")):
                name, amount, _ = line.split()
                values[name.rstrip(":")] = int(amount) / 1024
    return values


def build(root: Path, vectors: np.ndarray, config: VectorStoreConfig) -> tuple[float, Manifest]:
    products = [Product(id=f"p{i}", title="", image="/x.jpg", price=float(i % 100)) for i in range(len(vectors))]
    manifest = Manifest(version="", model_id="bench@0", model="bench", pretrained="none", dim=vectors.shape[1],
                        count=len(vectors), index_type="", catalog="bench", catalog_checksum="0", created=now_iso())
    tick = time.perf_counter()
    write_version(root, products, vectors, manifest, [], VectorStores(config, root))
    return time.perf_counter() - tick, manifest


def serve_like_a_worker(root: str, queue, ready, hold) -> None:
    """Open the version, search as a worker does; report memory once every worker has done the same."""
    before = memory_kb()
    tick = time.perf_counter()
    store = IndexStore.open(Path(root))
    opened = time.perf_counter() - tick
    queries = np.random.default_rng(11).normal(size=(150, 512)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    for query in queries[:100]:
        store.search(query, 10)
    for query in queries[100:]:
        assert len(store.search(query, 10, SearchFilters(min_price=FILTER_PRICE, max_price=FILTER_PRICE))) == 10
    ready.wait(600)  # every worker has mapped the files: shared pages now count as shared
    after = memory_kb()
    queue.put({"open_s": opened, "private_mb": (after["Anonymous"] - before["Anonymous"]) / 1024,
               "pss_mb": (after["Pss"] - before["Pss"]) / 1024})
    hold.wait(600)


def workers_table(root: Path, workers: int) -> None:
    reports = in_worker_processes(serve_like_a_worker, (str(root),), workers)
    print("\n| workers | open p50 (s) | open max (s) | private per worker, max (MB) | PSS of all (MB) |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| {workers} | {statistics.median(r['open_s'] for r in reports):.2f} | "
          f"{max(r['open_s'] for r in reports):.2f} | {max(r['private_mb'] for r in reports):.0f} | "
          f"{sum(r['pss_mb'] for r in reports):.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--factory", default="", help="FAISS factory string instead of the size-based choice")
    parser.add_argument("--dir", default=None, help="where to write the versions (needs 2.1 GB per million)")
    parser.add_argument("--keep", type=Path, default=None, help="build into KEEP/<size> once, reuse it later")
    parser.add_argument("--workers", type=int, default=0, help="then open it in this many worker processes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(name)s: %(message)s")
    logging.getLogger("indexer").setLevel(logging.INFO)  # training, tuning steps
    print(f"# {machine()}, faiss {faiss.__version__}")
    print("| vectors | index | build (s) | index file (MB) | private RSS (MB) | shared RSS (MB) "
          "| nprobe / re-rank | p50 (ms) | p99 (ms) | recall@10 | 1 % filter p50 (ms) | 1 % filter recall@10 "
          "| k results |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in args.sizes:
        vectors = clustered_unit_vectors(size, seed=1)
        rng = np.random.default_rng(7)
        queries = vectors[rng.integers(0, size, args.queries)] + 0.015 * rng.normal(size=(args.queries, 512))
        queries = np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True), np.float32)
        _, truth = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
        priced = np.flatnonzero(np.arange(size) % 100 == FILTER_PRICE)  # the rows the 1 % filter keeps
        _, in_subset = faiss.knn(queries[:100], vectors[priced], 10, metric=faiss.METRIC_INNER_PRODUCT)
        filtered_truth = priced[in_subset]
        with _version_folder(args, size) as root:
            config = VectorStoreConfig(index_factory=args.factory, compressed_from=1)
            if (root / CURRENT).exists():
                seconds, manifest = float("nan"), IndexStore.open(root).live.manifest
            else:
                seconds, manifest = build(root, vectors, config)
            del vectors
            gc.collect()
            before = memory_mb()
            store = IndexStore.open(root)
            latencies, recalls = [], []
            for query, expected in zip(queries, truth):
                tick = time.perf_counter()
                hits = store.search(query, 10)
                latencies.append(time.perf_counter() - tick)
                recalls.append(len({int(hit.product.id[1:]) for hit in hits} & set(expected.tolist())) / 10)
            filtered, filtered_recalls, counts = [], [], set()
            for query, expected in zip(queries[:100], filtered_truth):
                tick = time.perf_counter()
                hits = store.search(query, 10, SearchFilters(min_price=FILTER_PRICE, max_price=FILTER_PRICE))
                filtered.append(time.perf_counter() - tick)
                counts.add(len(hits))
                assert all(hit.product.price == FILTER_PRICE for hit in hits)
                filtered_recalls.append(len({int(hit.product.id[1:]) for hit in hits} & set(expected.tolist())) / 10)
            after = memory_mb()
            size_mb = (root / manifest.version / "index.faiss").stat().st_size / 2**20
            print(f"| {size:,} | {manifest.index_type} | {seconds:.0f} | {size_mb:.0f} "
                  f"| {after['RssAnon'] - before['RssAnon']:.0f} | {after['RssFile'] - before['RssFile']:.0f} "
                  f"| {manifest.nprobe} / {manifest.rerank_depth} "
                  f"| {percentile_ms(latencies, 50):.2f} | {percentile_ms(latencies, 99):.2f} "
                  f"| {np.mean(recalls):.3f} | {percentile_ms(filtered, 50):.2f} | {np.mean(filtered_recalls):.3f} "
                  f"| {'always 10' if counts == {10} else sorted(counts)} |", flush=True)
            print("  manifest:", json.dumps({key: getattr(manifest, key) for key in
                                               ("nprobe", "rerank_depth", "tuned_recall")}), flush=True)
            del store
            gc.collect()
            if args.workers:
                workers_table(root, args.workers)


if __name__ == "__main__":
    main()
