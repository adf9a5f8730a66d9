"""Several images per product in a version: exactly k distinct products, best image wins, on every backend."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from indexer.records import Manifest, VectorStoreConfig
from indexer.stores.backends import VectorStores
from indexer.stores.filters import SearchFilters
from indexer.stores.image_rows import IMAGES_FILE, vector_products
from indexer.stores.index_store import CorruptIndex, IndexStore
from indexer.stores.versions import now_iso, write_version
from tests.test_store import DIM, clustered_vectors, synthetic_products

PRODUCTS = 600


def products_with_images(count: int, seed: int = 0):
    """Products with 1..5 images each; a product's images are near one another, as photos of one thing are."""
    rng = np.random.default_rng(seed)
    products = [dataclasses.replace(product, images=tuple(f"/nowhere/{i}-{n}.jpg"
                                                          for n in range(1, 1 + int(rng.integers(0, 5)))))
                for i, product in enumerate(synthetic_products(count))]
    mains = clustered_vectors(count, seed=seed)
    extras = [mains[row] + 0.6 * rng.normal(size=DIM) / np.sqrt(DIM)
              for row, product in enumerate(products) for _ in product.images]
    vectors = np.concatenate([mains, np.asarray(extras).reshape(-1, DIM)])
    return products, (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def write_images_version(root, products, vectors, stores: VectorStores) -> None:
    manifest = Manifest(version="", model_id="synthetic@0", model="synthetic", pretrained="none", dim=DIM,
                        count=len(products), index_type="", catalog="synthetic", catalog_checksum="0",
                        created=now_iso())
    write_version(root, products, vectors, manifest, [], stores)


def reference(products, vectors, query, k, filters: SearchFilters = SearchFilters(), exclude: str | None = None):
    """The k best products by their best image, in plain Python."""
    owners = vector_products(products)
    best: dict[str, float] = {}
    for product, score in zip(owners, (vectors @ query).tolist()):
        if product.id == exclude or not passes(product, filters):
            continue
        best[product.id] = max(best.get(product.id, -2.0), score)
    return [pid for pid, _ in sorted(best.items(), key=lambda item: -item[1])[:k]]


def passes(product, filters: SearchFilters) -> bool:
    return ((filters.category is None or product.category == filters.category)
            and (filters.in_stock is None or product.in_stock == filters.in_stock)
            and (filters.max_price is None or (product.price is not None and product.price <= filters.max_price)))


@pytest.fixture(scope="module", params=["Flat", "HNSW32,Flat", "IVF16,Flat"])
def faiss_version(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("images-" + request.param.replace(",", "-"))
    products, vectors = products_with_images(PRODUCTS)
    write_images_version(root, products, vectors, VectorStores(VectorStoreConfig(index_factory=request.param), root))
    return IndexStore.open(root), products, vectors, request.param


FILTERS = [SearchFilters(), SearchFilters(category="shoes"), SearchFilters(in_stock=True, max_price=20.0)]


@pytest.mark.parametrize("filters", FILTERS, ids=["none", "category", "stock+price"])
def test_results_are_k_distinct_products_scored_by_their_best_image(faiss_version, filters):
    store, products, vectors, factory = faiss_version
    rng = np.random.default_rng(3)
    overlaps = []
    for query_row in rng.integers(0, len(vectors), 20):
        hits = store.search(vectors[query_row], 10, filters)
        ids = [hit.product.id for hit in hits]
        expected = reference(products, vectors, vectors[query_row], 10, filters)
        assert len(ids) == len(set(ids)) == len(expected)
        assert all(passes(hit.product, filters) for hit in hits)
        overlaps.append(overlap(ids, expected, factory))
    assert np.mean(overlaps) >= (1.0 if factory == "Flat" else 0.9)


def overlap(ids: list[str], expected: list[str], factory: str) -> float:
    """The share of the reference's results found; an exact index must find them in the same order."""
    if factory == "Flat":
        assert ids == expected
    return len(set(ids) & set(expected)) / len(expected)


def test_an_extra_image_finds_its_product_and_says_which_image_matched(faiss_version):
    store, products, vectors, factory = faiss_version
    owners = vector_products(products)
    numbers = [0] * len(products) + [n for p in products for n in range(1, len(p.images) + 1)]
    for row in range(len(products), len(vectors), 97):
        hit = store.search(vectors[row], 5)[0]
        assert hit.product.id == owners[row].id and hit.image == numbers[row]
        assert hit.score == pytest.approx(1.0, abs=1e-4)
        assert store.image_path(hit.product.id, hit.image) == owners[row].images[numbers[row] - 1]


def test_more_like_this_uses_every_image_of_the_product(faiss_version):
    store, products, vectors, factory = faiss_version
    many = next(row for row, product in enumerate(products) if len(product.images) >= 3)
    own = [row for row, owner in enumerate(vector_products(products)) if owner.id == products[many].id]
    expected: dict[str, float] = {}
    for row in own:
        for pid in reference(products, vectors, vectors[row], 8, exclude=products[many].id):
            score = max(float(vectors[r] @ vectors[row]) for r, o in enumerate(vector_products(products))
                        if o.id == pid)
            expected[pid] = max(expected.get(pid, -2.0), score)
    hits = store.similar(products[many].id, 8)
    assert products[many].id not in {hit.product.id for hit in hits} and len(hits) == 8
    if factory == "Flat":
        assert [hit.product.id for hit in hits] == sorted(expected, key=lambda pid: -expected[pid])[:8]


def test_products_with_many_similar_images_still_give_k_distinct(tmp_path):
    """Twenty near-identical photos of each of a few products must not crowd the others out."""
    products = [dataclasses.replace(p, images=tuple(f"/x/{p.id}-{n}.jpg" for n in range(1, 21)) if i < 5 else ())
                for i, p in enumerate(synthetic_products(40))]
    rng = np.random.default_rng(1)
    target = rng.normal(size=DIM)
    mains = clustered_vectors(40, seed=2)
    extras = [target + 0.01 * rng.normal(size=DIM) for p in products for _ in p.images]
    vectors = np.concatenate([mains, extras])
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    write_images_version(tmp_path, products, vectors, VectorStores(VectorStoreConfig(), tmp_path))
    store = IndexStore.open(tmp_path)
    query = (target / np.linalg.norm(target)).astype(np.float32)
    hits = store.search(query, 12)
    ids = [hit.product.id for hit in hits]
    assert len(set(ids)) == 12 and set(ids[:5]) == {f"id{i}" for i in range(5)}
    assert ids == reference(products, vectors, query, 12)


def test_milvus_versions_search_by_product(tmp_path, milvus_uri):
    products, vectors = products_with_images(300, seed=4)
    stores = VectorStores(VectorStoreConfig(kind="milvus", milvus_uri=milvus_uri, milvus_prefix="img"), tmp_path)
    write_images_version(tmp_path, products, vectors, stores)
    store = IndexStore.open(tmp_path, stores)
    for query_row in (5, 333, len(vectors) - 1):
        for filters in (SearchFilters(), SearchFilters(category="shoes", in_stock=True)):
            hits = store.search(vectors[query_row], 10, filters)
            assert [hit.product.id for hit in hits] == reference(products, vectors, vectors[query_row], 10, filters)
    stores.close()


def test_a_damaged_or_missing_images_file_is_refused(tmp_path):
    products, vectors = products_with_images(60, seed=5)
    write_images_version(tmp_path, products, vectors, VectorStores(VectorStoreConfig(), tmp_path))
    version = next(path for path in tmp_path.iterdir() if path.name.startswith("v"))
    (version / IMAGES_FILE).write_bytes((version / IMAGES_FILE).read_bytes()[:100])
    with pytest.raises(CorruptIndex, match="images.arrow"):
        IndexStore.open(tmp_path)
    (version / IMAGES_FILE).unlink()
    with pytest.raises(CorruptIndex, match="images.arrow is missing"):
        IndexStore.open(tmp_path)


def test_a_version_from_a_newer_shoplens_is_refused_with_one_clear_message(tmp_path):
    products, vectors = products_with_images(30, seed=6)
    write_images_version(tmp_path, products, vectors, VectorStores(VectorStoreConfig(), tmp_path))
    version = next(path for path in tmp_path.iterdir() if path.name.startswith("v"))
    manifest = json.loads((version / "manifest.json").read_text())
    (version / "manifest.json").write_text(json.dumps(dict(manifest, format=99)))
    with pytest.raises(CorruptIndex, match="newer shoplens"):
        IndexStore.open(tmp_path)


def test_recommendations_read_every_image_of_the_session_products(faiss_version):
    from indexer.stores.recommend import Session

    store, products, vectors, factory = faiss_version
    liked = [product.id for product in products if len(product.images) >= 2][:2]
    found = store.recommend(Session(positive={pid: 1.0 for pid in liked}), 8, SearchFilters(category="shoes"))
    ids = [hit.product.id for hit in found.hits]
    assert len(ids) == len(set(ids)) == 8 and not set(ids) & set(liked)
    assert all(hit.product.category == "shoes" for hit in found.hits)
    means = store.live.vectors.vectors_of([store.live.products.row_of(pid) for pid in liked])
    assert np.allclose(np.linalg.norm(means, axis=1), 1.0, atol=1e-5)
    rows = [row for row, owner in enumerate(vector_products(products)) if owner.id == liked[0]]
    expected = vectors[rows].mean(axis=0)
    assert np.allclose(means[0], expected / np.linalg.norm(expected), atol=1e-5)
