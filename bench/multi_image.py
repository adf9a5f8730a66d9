"""Search cost of several photos per product: 100,000 products with 1 and with 4 images each.

Synthetic 512-d vectors: each product's main image from ``clustered_unit_vectors``, its extra images that
vector moved by noise (photos of one thing are near one another, cosine ~0.8). Queries are a random
image of a random product moved by noise (a shopper's photo is never a catalog image). The truth is
exact search by product: a product scores its best image. Each version is built the production way
(``write_version``: the index type chosen by size) and searched through ``IndexStore.search``, which
returns k distinct products; ``--workers N`` opens each in N processes like gunicorn workers and reports
their private memory.

    .venv/bin/python bench/multi_image.py [--products 100000] [--images 1 4] [--queries 300] [--workers 2]
                                          [--factory F]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from common import clustered_unit_vectors, in_worker_processes, machine, memory_kb, percentile_ms  # noqa: E402

from indexer.records import Manifest, Product, VectorStoreConfig
from indexer.stores.backends import VectorStores
from indexer.stores.filters import SearchFilters
from indexer.stores.index_store import IndexStore
from indexer.stores.versions import now_iso, write_version

IMAGE_NOISE = 0.6   # extra image = main + this much noise (norm), then normalised: cosine ~0.8 to the main one
QUERY_NOISE = 0.35  # a shopper's photo of an image, as bench/compressed.py's tuning queries


def catalog(products: int, images: int, dim: int = 512) -> tuple[list[Product], np.ndarray, np.ndarray]:
    """Products, their image vectors (main images, then extras product by product) and each vector's product."""
    mains = clustered_unit_vectors(products, dim, seed=1)
    rng = np.random.default_rng(2)
    items = [Product(id=f"p{i}", title="", image="/x.jpg", price=float(i % 100),
                     images=tuple(f"/x-{n}.jpg" for n in range(1, images))) for i in range(products)]
    blocks, owners = [mains], [np.arange(products)]
    if images > 1:
        extras = np.repeat(mains, images - 1, axis=0)
        extras += IMAGE_NOISE * rng.normal(size=extras.shape).astype(np.float32) / np.sqrt(dim)
        blocks.append(extras / np.linalg.norm(extras, axis=1, keepdims=True))
        owners.append(np.repeat(np.arange(products), images - 1))
    return items, np.ascontiguousarray(np.concatenate(blocks), np.float32), np.concatenate(owners)


def product_truth(queries: np.ndarray, vectors: np.ndarray, owners: np.ndarray, k: int = 10) -> list[set[int]]:
    """Exact top-k products by best image: the best 50 k images always hold k distinct products here."""
    _, found = faiss.knn(queries, vectors, 50 * k, metric=faiss.METRIC_INNER_PRODUCT)
    truth = []
    for row in found:
        seen: list[int] = []
        for product in owners[row].tolist():
            if product not in seen:
                seen.append(product)
            if len(seen) == k:
                break
        truth.append(set(seen))
    return truth


def serve_like_a_worker(root: str, queue, ready, hold) -> None:
    before = memory_kb()
    store = IndexStore.open(Path(root))
    queries = np.random.default_rng(11).normal(size=(100, 512)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    for query in queries:
        store.search(query, 10)
        store.search(query, 10, SearchFilters(max_price=9))
    ready.wait(600)
    after = memory_kb()
    queue.put({"private_mb": (after["Anonymous"] - before["Anonymous"]) / 1024})
    hold.wait(600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--images", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--factory", default="", help="FAISS factory string instead of the size-based choice")
    args = parser.parse_args()
    print(f"# {machine()}, faiss {faiss.__version__}, {args.products:,} products")
    print("| images / product | vectors | index | build (s) | p50 (ms) | p99 (ms) | recall@10 by product "
          "| 10 % filter p50 (ms) | k distinct | private per worker (MB) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    p50s = {}
    for images in args.images:
        products, vectors, owners = catalog(args.products, images)
        rng = np.random.default_rng(7)
        picked = vectors[rng.integers(0, len(vectors), args.queries)]
        queries = picked + QUERY_NOISE * rng.normal(size=picked.shape).astype(np.float32) / np.sqrt(512)
        queries = np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True), np.float32)
        truth = product_truth(queries, vectors, owners)
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            manifest = Manifest(version="", model_id="bench@0", model="bench", pretrained="none", dim=512,
                                count=len(products), index_type="", catalog="bench", catalog_checksum="0",
                                created=now_iso())
            tick = time.perf_counter()
            write_version(root, products, vectors, manifest, [],
                          VectorStores(VectorStoreConfig(index_factory=args.factory), root))
            built = time.perf_counter() - tick
            del vectors
            store = IndexStore.open(root)
            for query in queries[:20]:  # warm the page cache and the index
                store.search(query, 10)
            latencies, recalls, distinct = [], [], set()
            for query, expected in zip(queries, truth):
                tick = time.perf_counter()
                hits = store.search(query, 10)
                latencies.append(time.perf_counter() - tick)
                ids = [int(hit.product.id[1:]) for hit in hits]
                distinct.add(len(set(ids)))
                recalls.append(len(set(ids) & expected) / 10)
            filtered = []
            for query in queries[:100]:
                tick = time.perf_counter()
                hits = store.search(query, 10, SearchFilters(max_price=9))
                filtered.append(time.perf_counter() - tick)
                distinct.add(len({hit.product.id for hit in hits}))
            workers = in_worker_processes(serve_like_a_worker, (str(root),), args.workers) if args.workers else []
            private = max((report["private_mb"] for report in workers), default=float("nan"))
            p50s[images] = percentile_ms(latencies, 50)
            print(f"| {images} | {len(owners):,} | {store.live.manifest.index_type} | {built:.0f} "
                  f"| {p50s[images]:.2f} | {percentile_ms(latencies, 99):.2f} | {statistics.mean(recalls):.3f} "
                  f"| {percentile_ms(filtered, 50):.2f} | {'always 10' if distinct == {10} else sorted(distinct)} "
                  f"| {private:.0f} |", flush=True)
            del store
    if len(p50s) > 1:
        first, *rest = sorted(p50s)
        for images in rest:
            print(f"p50 with {images} images / p50 with {first}: {p50s[images] / p50s[first]:.2f}x")


if __name__ == "__main__":
    main()
