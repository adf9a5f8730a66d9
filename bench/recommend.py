""""For you" recommendations: quality on a catalog of known visual families, and latency against one search.

Quality: ``tests.families`` catalog (20 families x 10 products x 5 near-identical shades, 512-d), sessions of
3 products from one family, 3+3 from two, and two-family sessions with 2 negatives from one of them, each
through ``IndexStore.recommend`` on an exact FAISS version. For several MMR lambdas: the share of the top-10
from the session's families (target >= 90 %), the share from a rejected family (target 0), and diversity,
the mean pairwise cosine of the top-10, against plain nearest-neighbour search of the session's mean vector.

Latency: at 100k products (exact FAISS, 512-d), p50 of ``recommend`` (5 positives, 1 negative, k = 10) against
p50 of ``search`` of one vector (k = 10), alternated query by query in one run. Target: ratio <= 1.2.

    .venv/bin/python bench/recommend.py [--sessions 100] [--latency-size 100000] [--queries 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import clustered_unit_vectors, machine, percentile_ms  # noqa: E402  (sys.path set in common)

from indexer.records import Manifest, Product, VectorStoreConfig
from indexer.stores.backends import VectorStores
from indexer.stores.index_store import IndexStore
from indexer.stores.recommend import DEFAULT_DIVERSITY, Session
from indexer.stores.versions import now_iso, write_version
from tests.families import FamilyCatalog, family_catalog, mean_pairwise_cosine

LAMBDAS = (1.0, 0.85, 1.0 - DEFAULT_DIVERSITY, 0.5)


def build(root: Path, vectors: np.ndarray) -> IndexStore:
    products = [Product(id=f"id{i}", title="", image="/x.jpg", price=float(i % 100)) for i in range(len(vectors))]
    manifest = Manifest(version="", model_id="bench@0", model="bench", pretrained="none", dim=vectors.shape[1],
                        count=len(vectors), index_type="", catalog="bench", catalog_checksum="0", created=now_iso())
    write_version(root, products, vectors, manifest, [], VectorStores(VectorStoreConfig(index_factory="Flat"), root))
    return IndexStore.open(root)


def row_ids(rows) -> dict[str, float]:
    return {f"id{row}": 1.0 for row in rows}


def hit_rows(hits) -> np.ndarray:
    return np.asarray([int(hit.product.id[2:]) for hit in hits])


def quality(store: IndexStore, catalog: FamilyCatalog, sessions: int) -> None:
    rng = np.random.default_rng(11)
    families = len(np.unique(catalog.family))
    print(f"\n## Quality: {len(catalog.vectors)} products in {families} families, {sessions} sessions per kind, "
          "top-10\n")
    print("| session | method | from the session's families | from the rejected family | diversity (mean "
          "pairwise cosine) |")
    print("| --- | --- | --- | --- | --- |")
    kinds = {"1 family x 3": 1, "2 families x 3": 2, "2 families x 3, 2 negatives": 2}
    for kind, count in kinds.items():
        draws = []
        for _ in range(sessions):
            chosen = rng.choice(families, count, replace=False)
            liked = [int(row) for family in chosen for row in rng.choice(catalog.rows_of(family), 3, replace=False)]
            disliked = ([int(row) for row in rng.choice(np.setdiff1d(catalog.rows_of(chosen[-1]), liked), 2,
                                                          replace=False)] if "negatives" in kind else [])
            draws.append((chosen, liked, disliked))
        methods = {"nearest neighbours of the mean": None, **{f"MMR lambda {lam:g}": lam for lam in LAMBDAS}}
        for name, lam in methods.items():
            inside, rejected, diversity = [], [], []
            for chosen, liked, disliked in draws:
                if lam is None:
                    mean = catalog.vectors[liked].mean(axis=0)
                    rows = [row for row in np.argsort(-(catalog.vectors @ mean)) if row not in liked][:10]
                else:
                    session = Session(positive=row_ids(liked), negative=row_ids(disliked), diversity=1.0 - lam)
                    rows = hit_rows(store.recommend(session, 10).hits)
                found = catalog.family[rows]
                wanted = chosen[:-1] if disliked else chosen
                inside.append(np.isin(found, wanted).mean())
                rejected.append(np.mean(found == chosen[-1]) if disliked else np.nan)
                diversity.append(mean_pairwise_cosine(catalog.vectors[rows]))
            rejected_cell = f"{np.mean(rejected):.1%}" if disliked else "—"
            print(f"| {kind} | {name} | {np.mean(inside):.1%} (worst {np.min(inside):.0%}) | {rejected_cell} "
                  f"| {np.mean(diversity):.3f} |", flush=True)


def latency(size: int, queries: int, folder: Path) -> None:
    vectors = clustered_unit_vectors(size, seed=3)
    store = build(folder, vectors)
    rng = np.random.default_rng(5)
    searched, recommended = [], []
    for _ in range(queries):
        liked = rng.choice(size, 6, replace=False)
        query = vectors[liked[0]]
        tick = time.perf_counter()
        store.search(query, 10)
        searched.append(time.perf_counter() - tick)
        tick = time.perf_counter()
        store.recommend(Session(positive=row_ids(liked[:5]), negative=row_ids(liked[5:])), 10)
        recommended.append(time.perf_counter() - tick)
    search_p50, recommend_p50 = percentile_ms(searched, 50), percentile_ms(recommended, 50)
    print(f"\n## Latency at {size:,} products (exact FAISS), {queries} alternated queries\n")
    print("| operation | p50 (ms) | p99 (ms) |")
    print("| --- | --- | --- |")
    print(f"| search, one vector, k = 10 | {search_p50:.2f} | {percentile_ms(searched, 99):.2f} |")
    print(f"| recommend, 5 positives + 1 negative, k = 10 | {recommend_p50:.2f} "
          f"| {percentile_ms(recommended, 99):.2f} |")
    print(f"| ratio at p50 | **{recommend_p50 / search_p50:.2f}x** | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--latency-size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    print(f"# {machine()}")
    with tempfile.TemporaryDirectory() as folder:
        catalog = family_catalog(dim=512)
        quality(build(Path(folder) / "families", catalog.vectors), catalog, args.sessions)
        latency(args.latency_size, args.queries, Path(folder) / "latency")


if __name__ == "__main__":
    main()
