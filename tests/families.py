"""A catalog with known visual structure for recommendation checks (the tests and ``bench/recommend.py``).

``families`` looks (say, a lipstick line, a dress cut), each of ``lines`` products that come in ``shades``
near-identical variants: plain nearest-neighbour search fills a row with one product's shades, which is what
the diversifier must avoid, while staying inside the families the shopper looked at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FamilyCatalog:
    vectors: np.ndarray  # unit rows; row i is product id{i}
    family: np.ndarray   # family of each row

    def rows_of(self, family: int) -> np.ndarray:
        return np.flatnonzero(self.family == family)


def family_catalog(families: int = 20, lines: int = 10, shades: int = 5, dim: int = 64,
                   seed: int = 0) -> FamilyCatalog:
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(families, dim)))
    line_centres = _unit(np.repeat(centres, lines, axis=0) + 0.45 * _unit(rng.normal(size=(families * lines, dim))))
    vectors = _unit(np.repeat(line_centres, shades, axis=0) + 0.12 * _unit(rng.normal(size=(len(line_centres) * shades,
                                                                                         dim))))
    order = rng.permutation(len(vectors))  # families interleaved in row order, as in a real feed
    family = np.repeat(np.arange(families), lines * shades)
    return FamilyCatalog(vectors[order].astype(np.float32), family[order])


def mean_pairwise_cosine(vectors: np.ndarray) -> float:
    similarities = vectors @ vectors.T
    count = len(vectors)
    return float((similarities.sum() - np.trace(similarities)) / (count * (count - 1))) if count > 1 else 1.0


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
