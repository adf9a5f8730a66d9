"""Search over a live version: filters give exactly k, ANN agrees with exact search, reloads are safe."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from indexer.records import Manifest, Product, VectorStoreConfig
from indexer.stores.backends import VectorStores
from indexer.stores.filters import SearchFilters
from indexer.stores.index_store import CorruptIndex, IndexNotFound, IndexStore, UnknownProduct
from indexer.stores.versions import now_iso, read_current, write_version
from vision.looks import ProductType

DIM = 32


def clustered_vectors(count: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """Unit vectors in clusters, like real image embeddings (uniform noise has no neighbours to find)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(count // 50, 1), dim))
    vectors = centres[rng.integers(0, len(centres), count)] + 0.35 * rng.normal(size=(count, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def synthetic_products(count: int) -> list[Product]:
    return [Product(id=f"id{i}", title=f"Item {i}", image=f"/nowhere/{i}.jpg", line=i + 2,
                    category=["dresses", "shoes", "bags", "lipstick"][i % 4], brand=f"b{i % 7}",
                    price=float(i % 100), in_stock=i % 3 != 0,
                    product_type=ProductType.LIPSTICK if i % 4 == 3 else None)
            for i in range(count)]


def write_synthetic(root: Path, vectors: np.ndarray, factory: str = "Flat", stores: VectorStores | None = None,
                    **config) -> str:
    """A version of ``vectors``; FAISS with ``factory`` unless ``stores`` says otherwise."""
    products = synthetic_products(len(vectors))
    stores = stores or VectorStores(VectorStoreConfig(index_factory=factory, **config), root)
    manifest = Manifest(version="", model_id="synthetic@0", model="synthetic", pretrained="none", dim=vectors.shape[1],
                        count=len(products), index_type=factory, catalog="synthetic", catalog_checksum="0",
                        created=now_iso())
    return write_version(root, products, vectors, manifest, [], stores).name


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray) -> list[str]:
    rows = np.flatnonzero(allowed)
    scores = vectors[rows] @ query
    return [f"id{rows[i]}" for i in np.argsort(-scores, kind="stable")[:k]]


@pytest.fixture(scope="module")
def exact_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("exact")
    vectors = clustered_vectors(2000)
    write_synthetic(root, vectors)
    return IndexStore.open(root), vectors


def test_unfiltered_search_matches_brute_force(exact_store):
    store, vectors = exact_store
    query = vectors[17]
    hits = store.search(query, k=10)
    assert [h.product.id for h in hits] == brute_force(vectors, query, 10, np.ones(len(vectors), bool))
    assert hits[0].product.id == "id17" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


@pytest.mark.parametrize("filters, predicate", [
    (SearchFilters(category="Shoes"), lambda i: i % 4 == 1),
    (SearchFilters(brand="b3", in_stock=True), lambda i: i % 7 == 3 and i % 3 != 0),
    (SearchFilters(min_price=10, max_price=12), lambda i: 10 <= i % 100 <= 12),
    (SearchFilters(product_type="lipstick", max_price=5), lambda i: i % 4 == 3 and i % 100 <= 5),
    (SearchFilters(in_stock=False, category="bags"), lambda i: i % 3 == 0 and i % 4 == 2),
])
def test_filters_return_exactly_k_of_the_right_products(exact_store, filters, predicate):
    store, vectors = exact_store
    allowed = np.array([predicate(i) for i in range(len(vectors))])
    k = 10
    hits = store.search(vectors[5], k=k, filters=filters)
    assert len(hits) == min(k, allowed.sum())
    assert [h.product.id for h in hits] == brute_force(vectors, vectors[5], k, allowed)


def test_filter_matching_nothing_and_unknown_values(exact_store):
    store, vectors = exact_store
    assert store.search(vectors[0], 5, SearchFilters(category="hats")) == []
    assert store.search(vectors[0], 5, SearchFilters(min_price=1000)) == []


def test_k_larger_than_catalog(tmp_path):
    write_synthetic(tmp_path, clustered_vectors(7))
    assert len(IndexStore.open(tmp_path).search(clustered_vectors(1, seed=9)[0], k=50)) == 7


def test_get_and_similar(exact_store):
    store, vectors = exact_store
    assert store.get("id42").title == "Item 42"
    similar = store.similar("id42", k=5)
    assert len(similar) == 5 and "id42" not in [h.product.id for h in similar]
    expected = brute_force(vectors, vectors[42], 6, np.ones(len(vectors), bool))[1:]
    assert [h.product.id for h in similar] == expected
    with pytest.raises(UnknownProduct):
        store.get("nope")
    with pytest.raises(UnknownProduct):
        store.similar("nope", 5)


def test_wrong_query_dimension(exact_store):
    with pytest.raises(ValueError, match="dimension"):
        exact_store[0].search(np.ones(DIM + 1, np.float32), 3)


@pytest.fixture(scope="module")
def ann_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("ann")
    vectors = clustered_vectors(60_000, seed=1)
    write_synthetic(root, vectors, factory="HNSW32,Flat")
    return IndexStore.open(root), vectors


def test_ann_recall_at_10_against_exact(ann_store):
    store, vectors = ann_store
    assert not store.live.vectors.images.exact
    rng = np.random.default_rng(7)
    queries = vectors[rng.integers(0, len(vectors), 200)] + 0.3 * rng.normal(size=(200, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    everyone = np.ones(len(vectors), bool)
    recalls = [len({h.product.id for h in store.search(q, 10)} & set(brute_force(vectors, q, 10, everyone))) / 10
               for q in queries]
    assert np.mean(recalls) >= 0.95


@pytest.mark.parametrize("filters", [SearchFilters(min_price=1),                   # 99 %: ANN with an ID selector
                                     SearchFilters(category="dresses"),             # 25 %: exact over the subset
                                     SearchFilters(brand="b2", min_price=50, max_price=52)])  # tiny: exact
def test_ann_filters_still_return_exactly_k(ann_store, filters):
    store, vectors = ann_store
    hits = store.search(vectors[3], k=20, filters=filters)
    assert len(hits) == 20
    for hit in hits:
        assert filters.category in (None, hit.product.category)
        assert filters.brand in (None, hit.product.brand)
        assert filters.min_price is None or hit.product.price >= filters.min_price
    allowed = np.array([(filters.min_price or 0) <= i % 100 for i in range(len(vectors))])
    if filters.category is None and filters.brand is None:  # the ANN path: close to exact
        exact = set(brute_force(vectors, vectors[3], 20, allowed))
        assert len(exact & {h.product.id for h in hits}) >= 18


def test_open_without_index(tmp_path):
    with pytest.raises(IndexNotFound, match="shoplens index"):
        IndexStore.open(tmp_path)


def test_reload_while_searching(tmp_path):
    write_synthetic(tmp_path, clustered_vectors(500, seed=1))
    store = IndexStore.open(tmp_path)
    first = store.live.name
    errors: list[BaseException] = []
    counts: list[int] = []
    stop = threading.Event()

    def searcher():
        query = clustered_vectors(1, seed=5)[0]
        while not stop.is_set():
            try:
                counts.append(len(store.search(query, 10, SearchFilters(category="shoes"))))
            except BaseException as exc:  # noqa: BLE001 - the test reports whatever broke
                errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(3):
            write_synthetic(tmp_path, clustered_vectors(500 + round_, seed=round_ + 2))
            assert store.reload() is True
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors and counts and set(counts) == {10}
    assert store.live.name != first and store.live.name == read_current(tmp_path)
    assert store.reload() is False  # nothing newer


@pytest.mark.parametrize("damage", ["truncate_index", "bad_manifest", "missing_vectors", "count_mismatch",
                                    "torn_products", "truncated_products", "missing_products"])
def test_corrupt_new_version_keeps_serving_the_old_one(tmp_path, damage):
    write_synthetic(tmp_path, clustered_vectors(100))
    store = IndexStore.open(tmp_path)
    old = store.live.name
    new = tmp_path / write_synthetic(tmp_path, clustered_vectors(120, seed=3))
    if damage == "truncate_index":
        data = (new / "index.faiss").read_bytes()
        (new / "index.faiss").write_bytes(data[: len(data) // 3])
    elif damage == "bad_manifest":
        (new / "manifest.json").write_text("{broken")
    elif damage == "missing_vectors":
        (new / "vectors.npy").unlink()
    elif damage == "count_mismatch":
        manifest = json.loads((new / "manifest.json").read_text())
        (new / "manifest.json").write_text(json.dumps(dict(manifest, count=manifest["count"] + 1)))
    elif damage == "torn_products":  # a write cut off half-way: the Arrow footer is gone
        data = (new / "products.arrow").read_bytes()
        (new / "products.arrow").write_bytes(data[: len(data) // 2])
    elif damage == "truncated_products":
        data = (new / "products.arrow").read_bytes()
        (new / "products.arrow").write_bytes(data[:-20])
    else:
        (new / "products.arrow").unlink()
    assert store.reload() is False
    assert store.live.name == old and store.last_error
    assert len(store.search(clustered_vectors(1)[0], 5)) == 5
    with pytest.raises(CorruptIndex):
        IndexStore.open(tmp_path)


def test_dimension_mismatch_with_the_model_is_refused(tmp_path):
    write_synthetic(tmp_path, clustered_vectors(50))
    store = IndexStore.open(tmp_path)
    write_synthetic(tmp_path, clustered_vectors(50, dim=16))
    assert store.reload(expected_dim=DIM) is False and "dimension" in store.last_error
