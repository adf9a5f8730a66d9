"""Search latency and recall of exact vs ANN indexes at 10k, 100k and 1M synthetic 512-d vectors.

Measures, for each size and index type, the build time, the memory the index adds, the p50/p99 of a
single query through ``IndexVersion.search`` (what the API calls) and recall@10 against exact search.
Target at 1M: p50 < 5 ms with recall@10 >= 0.95.

    .venv/bin/python bench/search.py [--sizes 10000 100000 1000000] [--queries 300]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

import numpy as np
from common import clustered_unit_vectors, machine, percentile_ms  # noqa: E402

from indexer.records import Manifest, Product, VectorStoreConfig
from indexer.stores.backends import VectorStores
from indexer.stores.faiss_store import ANN_FACTORY
from indexer.stores.index_store import IndexStore
from indexer.stores.vector_store import EXACT_LIMIT
from indexer.stores.versions import now_iso, write_version


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20


def build(root: Path, vectors: np.ndarray, factory: str) -> tuple[IndexStore, float, float]:
    products = [Product(id=f"p{i}", title="", image="/x.jpg", price=float(i % 100)) for i in range(len(vectors))]
    manifest = Manifest(version="", model_id="bench@0", model="bench", pretrained="none", dim=vectors.shape[1],
                        count=len(vectors), index_type=factory, catalog="bench", catalog_checksum="0",
                        created=now_iso())
    tick = time.perf_counter()
    write_version(root, products, vectors, manifest, [], VectorStores(VectorStoreConfig(index_factory=factory), root))
    seconds = time.perf_counter() - tick
    del products
    gc.collect()
    before = rss_mb()
    store = IndexStore.open(root)
    np.asarray(store.live.vectors.vectors).sum()  # page the vectors in, as a warm server has them
    return store, seconds, rss_mb() - before


def measure(store: IndexStore, queries: np.ndarray, truth: list[set[str]] | None, k: int = 10):
    latencies, hits = [], []
    for query in queries:
        tick = time.perf_counter()
        result = store.search(query, k)
        latencies.append(time.perf_counter() - tick)
        hits.append({hit.product.id for hit in result})
    recall = 1.0 if truth is None else float(np.mean([len(h & t) / k for h, t in zip(hits, truth)]))
    return percentile_ms(latencies, 50), percentile_ms(latencies, 99), recall, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    print(f"# {machine()}; ANN = {ANN_FACTORY} (the default above {EXACT_LIMIT:,} products)")
    print("| vectors | index | build (s) | memory (MB) | p50 (ms) | p99 (ms) | recall@10 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for size in args.sizes:
        vectors = clustered_unit_vectors(size, seed=1)
        rng = np.random.default_rng(7)
        queries = vectors[rng.integers(0, size, args.queries)] + 0.015 * rng.normal(size=(args.queries, 512))
        queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
        truth = None
        for factory in ("Flat", ANN_FACTORY):
            with tempfile.TemporaryDirectory() as root:
                store, seconds, memory = build(Path(root), vectors, factory)
                p50, p99, recall, hits = measure(store, queries, truth)
                if truth is None:
                    truth = hits
                print(f"| {size:,} | {factory} | {seconds:.1f} | {memory:.0f} | {p50:.2f} | {p99:.2f} | {recall:.3f} |",
                      flush=True)
                del store
                gc.collect()


if __name__ == "__main__":
    main()
