"""The Milvus backend: filters pushed down as expressions, versions as collections, pruning drops them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from indexer.records import VectorStoreConfig
from indexer.stores.backends import VectorStores
from indexer.stores.filters import SearchFilters
from indexer.stores.index_store import CorruptIndex, IndexStore
from indexer.stores.milvus_store import filter_expression, release_embedded
from indexer.stores.versions import list_versions, read_current, switch_current
from tests.test_store import brute_force, clustered_vectors, synthetic_products, write_synthetic

PROBE = "import sys; from pymilvus import MilvusClient; print(MilvusClient(sys.argv[1]).list_collections())"


def milvus(uri: str, root, prefix: str = "t") -> VectorStores:
    return VectorStores(VectorStoreConfig(kind="milvus", milvus_uri=uri, milvus_prefix=prefix), root)


@pytest.fixture(scope="module")
def milvus_store(tmp_path_factory, milvus_uri):
    root = tmp_path_factory.mktemp("milvus-store")
    vectors = clustered_vectors(800, seed=6)
    write_synthetic(root, vectors, stores=milvus(milvus_uri, root))
    return IndexStore.open(root, milvus(milvus_uri, root)), vectors


def test_expressions_quote_values_and_lower_text():
    assert filter_expression(SearchFilters()) == ""
    assert filter_expression(SearchFilters(category='Sh"oes\\', in_stock=False), exclude_row=4) == \
        'category == "sh\\"oes\\\\" and in_stock == false and row != 4'
    assert filter_expression(SearchFilters(min_price=10, max_price=20.5)) == \
        "has_price == true and price >= 10.0 and price <= 20.5"


def test_search_matches_exact_search(milvus_store):
    store, vectors = milvus_store
    hits = store.search(vectors[17], 10)
    assert [h.product.id for h in hits] == brute_force(vectors, vectors[17], 10, np.ones(len(vectors), bool))
    np.testing.assert_allclose([h.score for h in hits], [vectors[int(h.product.id[2:])] @ vectors[17] for h in hits],
                               rtol=1e-5)


@pytest.mark.parametrize("filters", [SearchFilters(category="SHOES"), SearchFilters(brand="b3", in_stock=True),
                                     SearchFilters(min_price=10, max_price=12), SearchFilters(product_type="lipstick"),
                                     SearchFilters(category="hats")])
def test_filters_are_pushed_down_and_return_exactly_k(milvus_store, filters):
    store, vectors = milvus_store
    products = synthetic_products(len(vectors))
    allowed = np.array([(filters.category is None or p.category == filters.category.lower())
                        and (filters.brand is None or p.brand == filters.brand)
                        and (filters.in_stock is None or p.in_stock == filters.in_stock)
                        and (filters.min_price is None or p.price >= filters.min_price)
                        and (filters.max_price is None or p.price <= filters.max_price)
                        and (filters.product_type is None or (p.product_type is not None
                                                              and p.product_type.value == filters.product_type))
                        for p in products])
    hits = store.search(vectors[5], 15, filters)
    assert [h.product.id for h in hits] == brute_force(vectors, vectors[5], 15, allowed)
    assert len(hits) == min(15, int(allowed.sum()))


def test_similar_reads_the_vector_back_from_milvus(milvus_store):
    store, vectors = milvus_store
    similar = store.similar("id42", 5)
    everyone_but = np.ones(len(vectors), bool)
    everyone_but[42] = False
    assert [h.product.id for h in similar] == brute_force(vectors, vectors[42], 5, everyone_but)


def test_versions_switch_roll_back_and_prune_collections(tmp_path, milvus_uri):
    from pymilvus import MilvusClient

    stores = milvus(milvus_uri, tmp_path, prefix="prune")
    names = [write_synthetic(tmp_path, clustered_vectors(50 + i, seed=i), stores=stores) for i in range(4)]
    store = IndexStore.open(tmp_path, stores)
    assert store.live.name == names[-1] and len(store.search(clustered_vectors(1)[0], 100)) == 53
    switch_current(tmp_path, names[-2])  # rollback, as the console does
    assert store.reload() and len(store.search(clustered_vectors(1)[0], 100)) == 52
    client = MilvusClient(uri=milvus_uri)
    collections = {name for name in client.list_collections() if name.startswith("prune_")}
    kept = [json.loads((tmp_path / name / "manifest.json").read_text())["collection"] for name in list_versions(tmp_path)]
    assert len(list_versions(tmp_path)) == 3 and collections == set(kept)  # the oldest version's collection is gone
    client.close()


def test_missing_collection_is_a_corrupt_version_and_the_old_one_keeps_serving(tmp_path, milvus_uri):
    from pymilvus import MilvusClient

    stores = milvus(milvus_uri, tmp_path, prefix="gone")
    write_synthetic(tmp_path, clustered_vectors(40), stores=stores)
    store = IndexStore.open(tmp_path, stores)
    old = store.live.name
    new = write_synthetic(tmp_path, clustered_vectors(41, seed=2), stores=stores)
    client = MilvusClient(uri=milvus_uri)
    client.drop_collection(json.loads((tmp_path / new / "manifest.json").read_text())["collection"])
    client.close()
    assert store.reload() is False and store.live.name == old and "does not exist" in store.last_error
    with pytest.raises(CorruptIndex):
        IndexStore.open(tmp_path, stores)
    assert read_current(tmp_path) == new


def test_unreachable_milvus_is_reported_clearly(tmp_path, milvus_uri):
    from tests.browser import free_port

    write_synthetic(tmp_path, clustered_vectors(30), stores=milvus(milvus_uri, tmp_path, prefix="away"))
    with pytest.raises(CorruptIndex, match="Milvus"):
        IndexStore.open(tmp_path, milvus(f"http://127.0.0.1:{free_port()}", tmp_path, prefix="away"))


def test_embedded_milvus_lite_file(tmp_path):
    """A .db URI runs milvus-lite inside the process; released, the file can be opened by another process."""
    uri = str(tmp_path / "embedded.db")
    stores = milvus(uri, tmp_path, prefix="lite")
    vectors = clustered_vectors(60, seed=8)
    write_synthetic(tmp_path, vectors, stores=stores)
    stores.close()
    reader = milvus(uri, tmp_path, prefix="lite")
    assert IndexStore.open(tmp_path, reader).search(vectors[3], 1)[0].product.id == "id3"
    reader.close()
    release_embedded(uri)
    probe = subprocess.run([sys.executable, "-c", PROBE, uri], capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0 and "lite_" in probe.stdout, probe.stderr


def test_serving_an_embedded_lite_file_with_several_workers_is_refused(tmp_path, capsys):
    """Each gunicorn worker would open the .db file itself, and milvus-lite allows one process at a time."""
    from app.cli import main as cli_main

    uri = str(tmp_path / "embedded.db")
    stores = milvus(uri, tmp_path, prefix="lite")
    write_synthetic(tmp_path, clustered_vectors(30, seed=9), stores=stores)
    stores.close()
    release_embedded(uri)
    assert cli_main(["serve", "--index-dir", str(tmp_path), "--milvus-uri", uri, "--workers", "2"]) == 1
    message = capsys.readouterr().err
    assert "one process at a time" in message and "shoplens milvus-lite" in message and "--workers 1" in message
