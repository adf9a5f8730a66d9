"""Where an index version keeps its vectors: FAISS files next to the manifest, or a Milvus collection.

A version folder always holds the manifest and the products; the manifest names the backend that holds
the vectors (``vector_store``), so a server opens any version, whichever backend built it, and the
``current`` pointer switches both kinds atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from indexer.catalog import Product
from indexer.filters import SearchFilters

if TYPE_CHECKING:
    from indexer.build import Manifest

KINDS = ("faiss", "milvus")
EXACT_LIMIT = 50_000  # below this many products every backend searches exactly (docs/BENCHMARKS.md)


class CorruptIndex(RuntimeError):
    """A version's files are missing, truncated or inconsistent with each other."""


class VectorStoreError(RuntimeError):
    """The vector backend cannot be reached, or is not installed."""


@dataclass(frozen=True)
class VectorStoreConfig:
    kind: str = "faiss"                 # where the indexer writes new versions
    index_factory: str = ""             # FAISS factory string; empty picks by catalog size
    compressed_from: int = 1_000_000    # at this many products FAISS versions are IVF-PQ
    recall_target: float = 0.95         # nprobe is tuned at build time to reach this recall@10
    milvus_uri: str = ""                # a milvus-lite .db file, or http://host:19530; empty: <index>/milvus.db
    milvus_token: str = ""
    milvus_prefix: str = "shoplens"     # collection names are <prefix>_<version>

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown vector store {self.kind!r}; expected one of {', '.join(KINDS)}.")


class VectorIndex(Protocol):
    """One version's vectors, ready to search."""

    def search(self, query: np.ndarray, k: int, filters: SearchFilters,
               exclude_row: int | None = None) -> list[tuple[int, float]]:
        """(row, cosine score) of the ``k`` best rows passing ``filters``, best first; exactly
        ``min(k, matching rows)`` of them."""

    def vector(self, row: int) -> np.ndarray:
        ...


class VectorStore(Protocol):
    kind: str

    def write(self, staging: Path, manifest: "Manifest", products: Sequence[Product], ids: np.ndarray,
              vectors: np.ndarray) -> None:
        """Store one version's vectors (files into ``staging``, or a new collection) and record in the
        manifest how to find and search them."""

    def open(self, folder: Path, manifest: "Manifest", products: Sequence[Product], ids: np.ndarray) -> VectorIndex:
        """:raise CorruptIndex: when the vectors are missing or disagree with the manifest."""

    def discard(self, manifest: "Manifest") -> None:
        """Free what a pruned version held outside its folder."""


class VectorStores:
    """One store per kind, created on first use, so a process holds one Milvus connection at most."""

    def __init__(self, config: VectorStoreConfig = VectorStoreConfig(), index_dir: Path | None = None):
        self.config = config
        self.index_dir = index_dir
        self._stores: dict[str, VectorStore] = {}

    @property
    def writer(self) -> VectorStore:
        return self.get(self.config.kind)

    def get(self, kind: str) -> VectorStore:
        """:raise VectorStoreError: for an unknown kind or a backend that is not installed."""
        if kind not in self._stores:
            if kind == "faiss":
                from indexer.faiss_store import FaissFiles

                self._stores[kind] = FaissFiles(self.config)
            elif kind == "milvus":
                from indexer.milvus_store import MilvusStore

                self._stores[kind] = MilvusStore(self.config, self.index_dir)
            else:
                raise VectorStoreError(f"Unknown vector store {kind!r}.")
        return self._stores[kind]

    def close(self) -> None:
        for store in self._stores.values():
            close = getattr(store, "close", None)
            if close:
                close()
        self._stores.clear()
