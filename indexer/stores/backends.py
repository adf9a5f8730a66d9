"""The vector backends by name: the one the indexer writes new versions to, and any a version names.

Backends are imported on first use, so a FAISS-only install never imports pymilvus.
"""

from __future__ import annotations

from pathlib import Path

from indexer.records import VectorStoreConfig
from indexer.stores.vector_store import VectorStore, VectorStoreError


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
                from indexer.stores.faiss_store import FaissFiles

                self._stores[kind] = FaissFiles(self.config)
            elif kind == "milvus":
                from indexer.stores.milvus_store import MilvusStore

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
