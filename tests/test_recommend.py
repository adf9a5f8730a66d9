"""Recommendations from a session: quality on a catalog of known families, on every vector store."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.stores.filters import SearchFilters
from indexer.stores.index_store import IndexStore
from indexer.stores.recommend import Session, maximal_marginal_relevance
from tests.families import FamilyCatalog, family_catalog, mean_pairwise_cosine
from tests.test_milvus import milvus
from tests.test_store import write_synthetic

CATALOG = family_catalog()
BACKENDS = ["Flat", "HNSW32,Flat", "IVF-PQ", "milvus"]


@pytest.fixture(scope="module", params=BACKENDS)
def family_store(request, tmp_path_factory) -> IndexStore:
    root = tmp_path_factory.mktemp("families")
    if request.param == "milvus":
        stores = milvus(request.getfixturevalue("milvus_uri"), root, prefix="families")
        write_synthetic(root, CATALOG.vectors, stores=stores)
        return IndexStore.open(root, stores)
    if request.param == "IVF-PQ":
        write_synthetic(root, CATALOG.vectors, factory="IVF8,PQ16x4", compressed_from=1)
    else:
        write_synthetic(root, CATALOG.vectors, factory=request.param)
    return IndexStore.open(root)


def ids(rows) -> dict[str, float]:
    return {f"id{row}": 1.0 for row in rows}


def rows(hits) -> list[int]:
    return [int(hit.product.id[2:]) for hit in hits]


def session_from(catalog: FamilyCatalog, families: list[int], size: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(row) for family in families for row in rng.choice(catalog.rows_of(family), size, replace=False)]


@pytest.mark.parametrize("families", [[3], [5, 11]])
def test_sessions_fill_the_row_from_their_families(family_store, families):
    shares = []
    for seed in range(8):
        session = session_from(CATALOG, families, 3, seed)
        found = family_store.recommend(Session(positive=ids(session)), 10).hits
        assert len(found) == 10 and not set(rows(found)) & set(session)
        shares.append(np.isin(CATALOG.family[rows(found)], families).mean())
    assert np.mean(shares) >= 0.9


def test_negatives_push_their_family_out(family_store):
    liked = session_from(CATALOG, [2, 7], 3, seed=1)
    disliked = session_from(CATALOG, [7], 2, seed=2)
    plain = family_store.recommend(Session(positive=ids(liked)), 10).hits
    assert 7 in CATALOG.family[rows(plain)]
    pushed = family_store.recommend(Session(positive=ids(liked), negative=ids(disliked)), 10).hits
    assert len(pushed) == 10 and 7 not in CATALOG.family[rows(pushed)]
    assert not set(rows(pushed)) & set(disliked)


def test_the_row_is_more_varied_than_the_neighbours_of_the_mean(family_store):
    session = session_from(CATALOG, [4], 3, seed=3)
    plain = family_store.recommend(Session(positive=ids(session), diversity=0.0), 10).hits
    varied = family_store.recommend(Session(positive=ids(session)), 10).hits
    mean = CATALOG.vectors[session].mean(axis=0)
    nearest = [row for row in np.argsort(-(CATALOG.vectors @ mean)) if row not in session][:10]
    assert rows(plain) == pytest.approx(nearest) or set(rows(plain)) == set(nearest)
    assert mean_pairwise_cosine(CATALOG.vectors[rows(varied)]) < mean_pairwise_cosine(CATALOG.vectors[nearest])


def test_weights_pull_towards_the_heavier_product(family_store):
    first, second = session_from(CATALOG, [1], 1, seed=4)[0], session_from(CATALOG, [9], 1, seed=5)[0]
    found = family_store.recommend(Session(positive={f"id{first}": 9.0, f"id{second}": 1.0}), 10).hits
    assert (CATALOG.family[rows(found)] == 1).sum() > (CATALOG.family[rows(found)] == 9).sum()
    assert {hit.because for hit in found} <= {f"id{first}", f"id{second}"}


def test_filters_still_give_exactly_k(family_store):
    session = session_from(CATALOG, [6], 4, seed=6)
    only = SearchFilters(category="shoes", min_price=10, max_price=40)
    found = family_store.recommend(Session(positive=ids(session)), 20, only).hits
    assert len(found) == 20
    assert all(hit.product.category == "shoes" and 10 <= hit.product.price <= 40 for hit in found)
    # fewer matching products than k: every one of them, the session's own left out
    few = SearchFilters(min_price=7, max_price=7)
    matching = {row for row in range(len(CATALOG.vectors)) if row % 100 == 7} - set(session)
    assert set(rows(family_store.recommend(Session(positive=ids(session)), 50, few).hits)) == matching


def test_text_is_mixed_into_the_session(family_store):
    session = session_from(CATALOG, [0], 3, seed=7)
    towards = CATALOG.vectors[CATALOG.rows_of(12)].mean(axis=0)
    towards /= np.linalg.norm(towards)
    found = family_store.recommend(Session(positive=ids(session), text_vector=towards, text_weight=0.8), 10).hits
    assert (CATALOG.family[rows(found)] == 12).sum() >= 5


def test_unknown_ids_are_left_out_and_listed(family_store):
    found = family_store.recommend(Session(positive={"id1": 1.0, "gone": 1.0}, negative={"also-gone": 1.0}), 5)
    assert found.unknown == ["gone", "also-gone"] and len(found.hits) == 5
    assert family_store.recommend(Session(positive={"gone": 1.0}), 5).hits == []


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.integers(1, 45), st.integers(0, 10_000))
def test_mmr_without_diversity_is_the_relevance_order(count, k, seed):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    relevance = rng.permutation(count).astype(np.float32)  # distinct: one right order
    picked = maximal_marginal_relevance(vectors, relevance, k, 1.0)
    assert picked == list(np.argsort(-relevance)[:k])
    diverse = maximal_marginal_relevance(vectors, relevance, k, 0.5)
    assert len(set(diverse)) == len(diverse) == min(k, count) and diverse[0] == picked[0]


def test_mmr_skips_a_near_copy():
    base = np.array([1.0, 0.0, 0.0], np.float32)
    copy = np.array([0.999, 0.0447, 0.0], np.float32)
    other = np.array([0.6, 0.0, 0.8], np.float32)
    vectors = np.stack([base, copy / np.linalg.norm(copy), other])
    relevance = np.array([0.95, 0.94, 0.80], np.float32)
    assert maximal_marginal_relevance(vectors, relevance, 2, 1.0) == [0, 1]
    assert maximal_marginal_relevance(vectors, relevance, 2, 0.7) == [0, 2]


# --- POST /api/v1/recommend on the 24-product test shop (p000..p023) ---


def recommend(client, **body):
    response = client.post("/api/v1/recommend", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    return response.get_json()


def result_ids(answer) -> list[str]:
    return [result["id"] for result in answer["results"]]


def test_api_recommends_k_products_never_the_session(client):
    answer = recommend(client, positive=["p001", "p002"], negative=["p003"], k=5)
    assert len(answer["results"]) == 5 and answer["unknown"] == [] and answer["version"]
    assert not {"p001", "p002", "p003"} & set(result_ids(answer))
    assert {result["because"] for result in answer["results"]} <= {"p001", "p002"}
    first = answer["results"][0]
    assert first["image_url"] == f"/catalog/images/{first['id']}" and -1 <= first["score"] <= 1
    assert len(result_ids(recommend(client, positive={"p001": 2, "p002": 0.5}, k=50))) == 22  # all the others


def test_api_filters(client):
    answer = recommend(client, positive=["p001"], k=3, category="BAGS", in_stock="yes")
    assert len(answer["results"]) == 3
    assert all(result["category"] == "bags" and result["in_stock"] for result in answer["results"])


def test_api_text_only_ranks_like_text_search(client):
    text = client.get("/api/v1/search?q=red%20satin&k=24").get_json()
    expected = [product_id for product_id in result_ids(text) if product_id != "p005"]
    answer = recommend(client, positive=["p005"], q="red satin", text_weight=1, diversity=0, k=23)
    assert result_ids(answer) == expected


def test_api_unknown_ids(client):
    response = client.post("/api/v1/recommend", json={"positive": ["p001", "gone-1"], "negative": ["gone-2"]})
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "unknown_product"
    assert "'gone-1', 'gone-2'" in response.get_json()["error"]["message"]
    answer = recommend(client, positive=["p001", "gone-1"], negative=["gone-2"], skip_unknown=True, k=4)
    assert answer["unknown"] == ["gone-1", "gone-2"] and len(answer["results"]) == 4
    assert recommend(client, positive=["gone-1"], skip_unknown=True)["results"] == []


@pytest.mark.parametrize("body, fragment", [
    ({"positive": [f"p{i:03d}" for i in range(51)]}, "at most 50"),
    ({"positive": ["p001", "p001"]}, "more than once"),
    ({"positive": ["p001"], "negative": {"p001": 1}}, "both positive and negative"),
    ({"positive": {"p001": 0}}, "greater than 0"),
    ({"positive": ["p001"], "diversity": 2}, "diversity"),
])
def test_api_refuses_bad_sessions(client, body, fragment):
    response = client.post("/api/v1/recommend", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter"
    assert fragment in response.get_json()["error"]["message"]


def test_api_is_documented(client):
    operation = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/recommend"]["post"]
    assert {"200", "400", "404", "429", "503"} <= set(operation["responses"])
    assert "requestBody" in operation
