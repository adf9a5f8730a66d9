"""Where an index version keeps its vectors: FAISS files next to the manifest, or a Milvus collection.

A version folder always holds the manifest and the products; the manifest names the backend that holds
the vectors (``vector_store``), so a server opens any version, whichever backend built it, and the
``current`` pointer switches both kinds atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from indexer.records import Manifest, Product
from indexer.stores.filters import FilterColumns, SearchFilters

EXACT_LIMIT = 50_000  # below this many products every backend searches exactly (docs/BENCHMARKS.md)


class CorruptIndex(RuntimeError):
    """A version's files are missing, truncated or inconsistent with each other."""


class VectorStoreError(RuntimeError):
    """The vector backend cannot be reached, or is not installed."""


class ProductRows(Protocol):
    """What a backend may read of a version's rows when it opens (``image_rows.ImageRowsView``)."""

    def filter_columns(self) -> FilterColumns: ...


class VectorIndex(Protocol):
    """One version's vectors, ready to search."""

    def search(self, query: np.ndarray, k: int, filters: SearchFilters,
               exclude_row: int | None = None) -> list[tuple[int, float]]:
        """(row, cosine score) of the ``k`` best rows passing ``filters``, best first; exactly
        ``min(k, matching rows)`` of them."""

    def vector(self, row: int) -> np.ndarray:
        ...

    def vectors_of(self, rows: Sequence[int]) -> np.ndarray:
        """The stored vectors of ``rows``, one per row in that order (float32, rows x dim)."""


class VectorStore(Protocol):
    kind: str

    def write(self, staging: Path, manifest: "Manifest", products: Sequence[Product], ids: np.ndarray,
              vectors: np.ndarray) -> None:
        """Store one version's vectors (files into ``staging``, or a new collection) and record in the manifest
        how to find and search them. ``products[i]`` is the product of ``vectors[i]``: one row per image."""

    def open(self, folder: Path, manifest: "Manifest", products: ProductRows) -> VectorIndex:
        """:raise CorruptIndex: when the vectors are missing or disagree with the manifest."""

    def discard(self, manifest: "Manifest") -> None:
        """Free what a pruned version held outside its folder."""
