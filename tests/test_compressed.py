"""Compressed (IVF-PQ) versions: chosen by size, tuned to the recall target, memory-mapped, exact-k filters."""

from __future__ import annotations

import json
import shutil

import faiss
import numpy as np
import pytest

from indexer.records import VectorStoreConfig
from indexer.stores import faiss_store
from indexer.stores.faiss_store import build_index, choose_factory, compressed_factory, pq_subquantizers, tune_search
from indexer.stores.filters import SearchFilters
from indexer.stores.index_store import IndexStore, IndexVersion
from indexer.stores.vector_store import CorruptIndex
from tests.test_store import DIM, brute_force, clustered_vectors, write_synthetic

COUNT = 20_000


@pytest.fixture(scope="module")
def compressed(tmp_path_factory):
    root = tmp_path_factory.mktemp("ivfpq")
    vectors = clustered_vectors(COUNT, seed=4)
    version = write_synthetic(root, vectors, factory="", compressed_from=10_000)
    return IndexStore.open(root), vectors, root / version


def test_size_picks_the_index_type():
    config = VectorStoreConfig()
    assert choose_factory(1_000, config) == "Flat"
    assert choose_factory(200_000, config) == "HNSW32,Flat"
    assert choose_factory(1_000_000, config) == "IVF4096_HNSW32,PQ64"
    assert choose_factory(5_000_000, config) == "IVF8192_HNSW32,PQ64"
    assert choose_factory(5_000, VectorStoreConfig(compressed_from=2_000), dim=DIM).startswith("IVF")
    assert choose_factory(5_000_000, VectorStoreConfig(index_factory="Flat")) == "Flat"
    assert [pq_subquantizers(dim) for dim in (512, 768, 96, 32)] == [64, 64, 24, 8]
    assert compressed_factory(COUNT, DIM) == "IVF512_HNSW32,PQ8"


def test_manifest_records_the_tuned_nprobe(compressed):
    _, _, folder = compressed
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["index_type"] == "IVF512_HNSW32,PQ8"
    assert 1 <= manifest["nprobe"] <= 512
    assert faiss_store.RERANK_DEPTH <= manifest["rerank_depth"] <= faiss_store.RERANK_DEPTH_MAX
    assert manifest["tuned_recall"] >= 0.95


def test_tuning_deepens_the_re_rank_when_codes_are_too_coarse():
    vectors = clustered_vectors(COUNT, seed=4)
    ids = np.arange(COUNT)
    coarse = build_index(vectors, ids, "IVF64,PQ1x4")  # 4 bits per vector: PQ scores barely rank anything
    nprobe, depth, recall = tune_search(coarse, vectors, compressed=True, target=0.99)
    assert depth > faiss_store.RERANK_DEPTH and recall >= 0.99 and nprobe <= 64


def test_codes_are_smaller_than_the_vectors(compressed):
    _, _, folder = compressed
    assert (folder / "index.faiss").stat().st_size < 0.5 * (folder / "vectors.npy").stat().st_size


def test_recall_at_10_on_fresh_queries(compressed):
    store, vectors, _ = compressed
    rng = np.random.default_rng(99)  # not the tuning queries
    queries = vectors[rng.integers(0, COUNT, 200)] + 0.06 * rng.normal(size=(200, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    everyone = np.ones(COUNT, bool)
    recalls = [len({h.product.id for h in store.search(q, 10)} & set(brute_force(vectors, q, 10, everyone))) / 10
               for q in queries]
    assert np.mean(recalls) >= 0.95


def test_scores_are_exact_after_re_ranking(compressed):
    store, vectors, _ = compressed
    hits = store.search(vectors[11], 5)
    rows = [int(hit.product.id[2:]) for hit in hits]
    assert rows[0] == 11
    np.testing.assert_allclose([hit.score for hit in hits], vectors[rows] @ vectors[11], rtol=1e-5)


def test_index_file_is_memory_mapped_not_copied(compressed):
    store, _, folder = compressed
    with open("/proc/self/maps") as handle:
        mapped = [line for line in handle if line.rstrip().endswith(str(folder / "index.faiss"))]
    assert mapped, "index.faiss should be mapped into the process, shared through the page cache"


@pytest.mark.parametrize("filters", [SearchFilters(min_price=1), SearchFilters(in_stock=True),
                                     SearchFilters(category="shoes", brand="b3")])
def test_filters_return_exactly_k_through_the_ivf_selector(compressed, filters, monkeypatch):
    monkeypatch.setattr(faiss_store, "IVF_SUBSET_EXACT_LIMIT", 100)  # force the ANN path for these subsets
    store, vectors, _ = compressed
    hits = store.search(vectors[8], 25, filters)
    assert len(hits) == 25
    assert all(filters.category in (None, hit.product.category) and filters.brand in (None, hit.product.brand)
               and filters.in_stock in (None, hit.product.in_stock)
               and (filters.min_price is None or hit.product.price >= filters.min_price) for hit in hits)


@pytest.mark.parametrize("share", [0.05, 0.01])
def test_selective_filters_keep_recall_through_the_ivf_lists(compressed, share, monkeypatch):
    """A random filter (uncorrelated with the vectors: the hardest kind) through the bitmap selector."""
    monkeypatch.setattr(faiss_store, "IVF_SUBSET_EXACT_LIMIT", 50)
    store, vectors, _ = compressed
    searcher = store.live.vectors.images  # the FAISS backend
    allowed = np.zeros(COUNT, bool)
    allowed[np.random.default_rng(5).permutation(COUNT)[:int(share * COUNT)]] = True
    rng = np.random.default_rng(98)
    queries = vectors[rng.integers(0, COUNT, 100)] + 0.06 * rng.normal(size=(100, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recalls = []
    for query in queries:
        found = searcher._ann(query.reshape(1, -1), 10, allowed, int(allowed.sum()))
        assert len(found) == 10 and all(allowed[row] for row, _ in found)
        recalls.append(len({f"id{row}" for row, _ in found} & set(brute_force(vectors, query, 10, allowed))) / 10)
    assert np.mean(recalls) >= 0.9
    assert searcher.filtered_nprobe(share) == min(512, int(np.ceil(searcher.nprobe * 2 / share)))


def test_similar_excludes_the_product_itself(compressed):
    store, _, _ = compressed
    similar = store.similar("id42", 10)
    assert len(similar) == 10 and "id42" not in {hit.product.id for hit in similar}


def test_memory_mapped_lists_search_without_prefetch_threads(compressed):
    _, _, folder = compressed
    searcher = IndexVersion(folder).vectors.images
    lists = faiss.downcast_InvertedLists(faiss.extract_index_ivf(searcher.index).invlists)
    assert isinstance(lists, faiss.OnDiskInvertedLists)  # read memory-mapped...
    assert lists.prefetch_nthread == 0  # ...without starting threads per query (0.04 ms -> 3 ms on 2 cores)


def test_lists_to_probe_are_found_accurately(compressed):
    _, _, folder = compressed
    searcher = IndexVersion(folder).vectors.images  # held: FAISS's sub-objects die with their index
    quantizer = faiss.downcast_index(faiss.extract_index_ivf(searcher.index).quantizer)
    assert quantizer.hnsw.efSearch == faiss_store.ANN_EF_SEARCH  # FAISS's 16 probed the wrong lists at 5M


@pytest.mark.parametrize("share", [0.05, 0.01])
def test_selective_filters_score_the_allowed_rows_own_codes(compressed, share, monkeypatch):
    """The filter-codes route: exactly k allowed rows, near-exact recall, and the lists are not probed."""
    monkeypatch.setattr(faiss_store, "IVF_SUBSET_EXACT_LIMIT", 50)
    monkeypatch.setattr(faiss_store, "SUBSET_ROW_COST", 0)  # always cheaper than the lists
    store, vectors, _ = compressed
    searcher = store.live.vectors.images  # the FAISS backend
    monkeypatch.setattr(searcher, "_ann", lambda *args: pytest.fail("the lists were probed"))
    rng = np.random.default_rng(97)
    allowed = np.zeros(COUNT, bool)
    allowed[rng.permutation(COUNT)[:int(share * COUNT)]] = True
    monkeypatch.setattr(searcher.columns, "mask", lambda filters, exclude_row=None: allowed.copy())
    queries = vectors[rng.integers(0, COUNT, 100)] + 0.06 * rng.normal(size=(100, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recalls = []
    for query in queries:
        found = searcher.search(query, 10, SearchFilters(min_price=0))
        assert len(found) == 10 and all(allowed[row] for row, _ in found)
        np.testing.assert_allclose([score for _, score in found], vectors[[row for row, _ in found]] @ query,
                                   rtol=1e-5)  # re-scored exactly
        recalls.append(len({f"id{row}" for row, _ in found} & set(brute_force(vectors, query, 10, allowed))) / 10)
    assert np.mean(recalls) >= 0.97


def test_filter_codes_are_chosen_when_cheaper_than_the_lists(compressed):
    store, _, folder = compressed
    searcher = store.live.vectors.images  # the FAISS backend
    assert (folder / faiss_store.FILTER_CODES_FILE).exists() and searcher.filter_codes is not None
    assert not searcher.filter_codes.codes.flags.owndata  # mapped, shared by the workers
    probed_share = min(1.0, searcher.filtered_nprobe(0.01) / searcher._ivf.nlist)
    assert searcher._prefers_filter_codes(200, COUNT) == (200 * faiss_store.SUBSET_ROW_COST < COUNT * probed_share)
    assert not searcher._prefers_filter_codes(COUNT // 2, COUNT)  # a broad filter: the few lists nprobe reads


def test_versions_without_filter_codes_filter_through_the_lists(compressed, tmp_path, monkeypatch):
    monkeypatch.setattr(faiss_store, "IVF_SUBSET_EXACT_LIMIT", 50)
    _, vectors, folder = compressed
    older = tmp_path / folder.name
    shutil.copytree(folder, older, ignore=shutil.ignore_patterns(faiss_store.FILTER_CODES_FILE,
                                                                  faiss_store.FILTER_PQ_FILE))
    version = IndexVersion(older)
    assert version.vectors.images.filter_codes is None
    hits = version.search(vectors[3], 10, SearchFilters(category="shoes", brand="b3"))
    assert len(hits) == 10 and all(hit.product.category == "shoes" and hit.product.brand == "b3" for hit in hits)


@pytest.mark.parametrize("damage", ["torn", "codebooks missing"])
def test_damaged_filter_codes_are_refused_at_open(compressed, tmp_path, damage):
    _, _, folder = compressed
    broken = tmp_path / folder.name
    shutil.copytree(folder, broken)
    if damage == "torn":
        codes = broken / faiss_store.FILTER_CODES_FILE
        codes.write_bytes(codes.read_bytes()[:codes.stat().st_size // 2])
    else:
        (broken / faiss_store.FILTER_PQ_FILE).unlink()
    with pytest.raises(CorruptIndex, match="filter codes"):
        IndexVersion(broken)
