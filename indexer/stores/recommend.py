"""Recommendations from a shopper's session: products near what they looked at, away from what they rejected,
diversified so that near copies of one product do not fill the row.

Everything comes from the stored vectors of the live version; nothing is embedded again.

- The session vector is Rocchio's relevance-feedback query (Rocchio 1971; Manning, Raghavan & Schütze,
  *Introduction to Information Retrieval*, section 9.1.1): the weighted mean of the positives, moved away
  from the mean of the negatives by ``NEGATIVE_SHIFT``, so the candidates fetched lie on the liked side.
- Each candidate's relevance is its cosine to the positives' mean (mixed with the text, if any) minus
  ``NEGATIVE_PENALTY`` times its cosine to the closest negative: a product like one the shopper turned down
  drops out even when it is also like one they liked.
- The row is picked by maximal marginal relevance (Carbonell & Goldstein, SIGIR 1998): each next product
  maximises ``lambda * relevance - (1 - lambda) * max cosine to the products already picked``, with
  ``lambda = 1 - diversity``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from indexer.stores.filters import SearchFilters
from indexer.stores.image_rows import ProductVectors
from indexer.stores.product_table import ProductTable

DEFAULT_DIVERSITY = 0.3  # MMR lambda 0.7: relevance first, near copies pushed down (docs/BENCHMARKS.md)
NEGATIVE_SHIFT = 0.5     # Rocchio's gamma for the fetch; the classic 0.15 barely moves a 512-d CLIP query
NEGATIVE_PENALTY = 1.0   # a candidate as close to a negative as to the session scores about zero
MIN_POOL = 50            # candidates fetched for the diversifier, at least; more for larger k
POOL_PER_RESULT = 4


@dataclass(frozen=True)
class Session:
    """Product ids with their weights (> 0), as the shopper's browser sent them."""

    positive: Mapping[str, float]
    negative: Mapping[str, float] = field(default_factory=dict)
    text_vector: np.ndarray | None = None  # an already normalised text query ("but in green")
    text_weight: float = 0.5
    diversity: float = DEFAULT_DIVERSITY


@dataclass(frozen=True)
class Recommendation:
    row: int
    score: float
    because: str  # the positive id this product is closest to: what the page may honestly say


def recommend(table: ProductTable, vectors: ProductVectors, session: Session, k: int,
              filters: SearchFilters = SearchFilters()) -> list[Recommendation]:
    """``min(k, products passing filters that are not in the session)`` recommendations, best first; a group
    of variants counts once, and not at all when the session holds one of its variants.

    Every id of the session must be in ``table`` (``IndexStore.recommend`` leaves the others out first).
    """
    positive_ids = list(session.positive)
    positive_rows = [table.row_of(product_id) for product_id in positive_ids]
    negative_rows = [table.row_of(product_id) for product_id in session.negative]
    if not positive_rows or None in positive_rows or None in negative_rows:
        raise ValueError("recommend() needs at least one positive, and only ids of this version")
    liked = vectors.vectors_of(positive_rows)
    session_vector = _unit(_products("i,ij->j", np.asarray(list(session.positive.values()), np.float32), liked))
    if session.text_vector is not None:
        mixed = (1 - session.text_weight) * session_vector + session.text_weight * session.text_vector
        session_vector = _unit(mixed) if np.linalg.norm(mixed) > 1e-6 else session_vector
    fetch_vector = session_vector
    disliked = np.zeros((0, liked.shape[1]), np.float32)
    if negative_rows:
        disliked = vectors.vectors_of(negative_rows)
        weights = np.asarray(list(session.negative.values()), np.float32)
        pushed = session_vector - NEGATIVE_SHIFT * _unit(_products("i,ij->j", weights, disliked))
        fetch_vector = _unit(pushed) if np.linalg.norm(pushed) > 1e-6 else session_vector

    excluded = set(positive_rows) | set(negative_rows)
    # one variant per group, and none of a group the shopper already saw (another colour is not news)
    seen = {vectors.key_of(row, collapse=True) for row in excluded}
    pool_size = max(MIN_POOL, POOL_PER_RESULT * k) + len(excluded)
    found = [(row, score) for row, score in vectors.search(fetch_vector, pool_size, filters, collapse=True)
             if vectors.key_of(row, collapse=True) not in seen]
    if not found:
        return []
    rows = np.asarray([row for row, _ in found], np.int64)
    candidates = vectors.vectors_of(rows)
    relevance = _products("ij,j->i", candidates, session_vector)
    if len(disliked):
        relevance = relevance - NEGATIVE_PENALTY * _products("ij,kj->ik", candidates, disliked).max(axis=1)
    picked = maximal_marginal_relevance(candidates, relevance, k, 1.0 - session.diversity)
    closest_positive = _products("ij,kj->ik", candidates[picked], liked).argmax(axis=1)
    return [Recommendation(int(rows[index]), float(relevance[index]), positive_ids[int(source)])
            for index, source in zip(picked, closest_positive)]


def maximal_marginal_relevance(vectors: np.ndarray, relevance: np.ndarray, k: int, lam: float) -> list[int]:
    """Indices of ``k`` rows of ``vectors`` (unit length) picked greedily by MMR, in the order picked."""
    count = len(vectors)
    redundancy = np.full(count, -np.inf, np.float32)  # max cosine to a picked row; none picked yet
    available = np.ones(count, bool)
    picked: list[int] = []
    for _ in range(min(k, count)):
        penalty = np.where(np.isfinite(redundancy), redundancy, 0.0)
        scores = np.where(available, lam * relevance - (1 - lam) * penalty, -np.inf)
        best = int(np.argmax(scores))
        picked.append(best)
        available[best] = False
        np.maximum(redundancy, _products("ij,j->i", vectors, vectors[best]), out=redundancy)
    return picked


def _products(subscripts: str, *operands: np.ndarray) -> np.ndarray:
    """Products of a few hundred rows with einsum's own loop: ``@`` wakes BLAS's threads, which costs
    milliseconds when the server's other threads hold the cores (73 ms for a 10-pick MMR on a busy box)."""
    return np.einsum(subscripts, *operands, optimize=False)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 1e-12 else vector.astype(np.float32)
