"""Milvus as the vector backend: one collection per index version, filters pushed into Milvus.

The URI picks the deployment: a ``.db`` file runs milvus-lite inside this process (one process at a
time), ``http://host:19530`` reaches a ``shoplens milvus-lite`` server, Milvus standalone or a cluster.
The version folder keeps the manifest and products as for FAISS; its manifest names the collection,
so the ``current`` pointer switches every replica to the new collection at once.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from indexer.records import Manifest, Product, VectorStoreConfig
from indexer.stores.filters import SearchFilters
from indexer.stores.vector_store import EXACT_LIMIT, CorruptIndex, ProductRows, VectorStoreError

log = logging.getLogger(__name__)
HNSW_PARAMS = {"M": 32, "efConstruction": 100}
EF_SEARCH = 128
INSERT_BATCH = 2_000
CONNECT_TIMEOUT = 10.0   # seconds; an unreachable Milvus fails the load (and is retried) rather than hanging
TEXT_LENGTH = 65_535     # Milvus's longest VARCHAR: a value is never truncated, so equality stays exact
INSTALL_HINT = "install the Milvus extra: pip install 'shoplens[milvus]'"


def is_local_file(uri: str) -> bool:
    """milvus-lite's embedded mode: a path rather than an http(s)/tcp URI."""
    return "://" not in uri


def literal(text: str) -> str:
    """A Milvus string literal; JSON's escaping of quotes and backslashes is what Milvus parses."""
    return json.dumps(text, ensure_ascii=False)


def filter_expression(filters: SearchFilters, exclude_row: int | None = None) -> str:
    """``filters`` as a Milvus boolean expression; text columns are stored lower-cased for exact-case-free match."""
    terms = []
    for column in ("category", "brand", "product_type"):
        value = getattr(filters, column)
        if value is not None:
            terms.append(f"{column} == {literal(value.lower())}")
    if filters.min_price is not None or filters.max_price is not None:
        terms.append("has_price == true")
    if filters.min_price is not None:
        terms.append(f"price >= {float(filters.min_price)!r}")
    if filters.max_price is not None:
        terms.append(f"price <= {float(filters.max_price)!r}")
    if filters.in_stock is not None:
        terms.append(f"in_stock == {str(filters.in_stock).lower()}")
    if exclude_row is not None:
        terms.append(f"row != {int(exclude_row)}")
    return " and ".join(terms)


class MilvusVectors:
    """One version's collection."""

    def __init__(self, client: Any, collection: str, exact: bool):
        self.client, self.collection, self.exact = client, collection, exact

    def search(self, query: np.ndarray, k: int, filters: SearchFilters = SearchFilters(),
               exclude_row: int | None = None) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        params = {"metric_type": "IP", "params": {} if self.exact else {"ef": max(EF_SEARCH, k)}}
        result = self.client.search(self.collection, data=[np.asarray(query, np.float32).tolist()], limit=k,
                                    filter=filter_expression(filters, exclude_row), search_params=params)
        hits = [(int(hit["id"]), float(hit["distance"])) for hit in result[0]]
        return sorted(hits, key=lambda hit: (-hit[1], hit[0]))  # ties in row order, as FAISS does

    def vector(self, row: int) -> np.ndarray:
        records = self.client.query(self.collection, filter=f"row == {int(row)}", output_fields=["vector"])
        if not records:
            raise CorruptIndex(f"Row {row} is missing from Milvus collection {self.collection}.")
        return np.asarray(records[0]["vector"], dtype=np.float32)

    def vectors_of(self, rows: Sequence[int]) -> np.ndarray:
        """One query for all rows, not one per row."""
        wanted = [int(row) for row in rows]
        if not wanted:
            return np.zeros((0, 0), np.float32)
        records = self.client.query(self.collection, filter=f"row in {sorted(set(wanted))}",
                                    output_fields=["row", "vector"])
        found = {int(record["row"]): record["vector"] for record in records}
        if missing := sorted(set(wanted) - found.keys()):
            raise CorruptIndex(f"Rows {missing[:5]} are missing from Milvus collection {self.collection}.")
        return np.asarray([found[row] for row in wanted], dtype=np.float32)


class MilvusStore:
    kind = "milvus"

    def __init__(self, config: VectorStoreConfig, index_dir: Path | None):
        self.config = config
        self.uri = config.milvus_uri or str(Path(index_dir or ".") / "milvus.db")
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """:raise VectorStoreError: when pymilvus is missing or Milvus cannot be reached."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        try:
            from pymilvus import MilvusClient
            from pymilvus.exceptions import MilvusException
        except ImportError as exc:
            raise VectorStoreError(f"The Milvus backend needs pymilvus: {INSTALL_HINT}.") from exc
        if is_local_file(self.uri):
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            # A connection of our own: pymilvus otherwise shares one per URI, and closing any client closes it.
            return MilvusClient(uri=self.uri, token=self.config.milvus_token, timeout=CONNECT_TIMEOUT,
                                alias=f"shoplens-{uuid.uuid4().hex}")
        except (MilvusException, ImportError, OSError) as exc:
            hint = (" A milvus-lite file can be open in one process only: serve it with `shoplens milvus-lite` "
                    "and point SHOPLENS_MILVUS_URI at http://127.0.0.1:19530." if is_local_file(self.uri) else "")
            raise VectorStoreError(f"Cannot connect to Milvus at {self.uri}: {exc}.{hint}") from exc

    def collection_name(self, version: str) -> str:
        return f"{self.config.milvus_prefix}_{version.replace('-', '_')}"

    def write(self, staging: Path, manifest: "Manifest", products: Sequence[Product], ids: np.ndarray,
              vectors: np.ndarray) -> None:
        from pymilvus import DataType

        client = self.client
        name = self.collection_name(manifest.version)
        exact = len(products) < EXACT_LIMIT
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("product_id", DataType.VARCHAR, max_length=TEXT_LENGTH)
        for column in ("category", "brand", "product_type"):
            schema.add_field(column, DataType.VARCHAR, max_length=TEXT_LENGTH)
        schema.add_field("price", DataType.DOUBLE)
        schema.add_field("has_price", DataType.BOOL)
        schema.add_field("in_stock", DataType.BOOL)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(vectors.shape[1]))
        index = client.prepare_index_params()
        index.add_index(field_name="vector", index_type="FLAT" if exact else "HNSW", metric_type="IP",
                        params={} if exact else HNSW_PARAMS)
        if client.has_collection(name):
            client.drop_collection(name)  # left by a run killed before it could publish this version
        client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
        for start in range(0, len(products), INSERT_BATCH):
            rows = range(start, min(start + INSERT_BATCH, len(products)))
            client.insert(name, [_entity(row, products[row], vectors[row]) for row in rows])
        client.flush(name)
        manifest.vector_store, manifest.collection = self.kind, name
        manifest.index_type = "FLAT" if exact else f"HNSW{HNSW_PARAMS['M']}"
        manifest.ef_search = 0 if exact else EF_SEARCH

    def open(self, folder: Path, manifest: "Manifest", products: ProductRows) -> MilvusVectors:
        client = self.client
        name = manifest.collection
        try:
            if not name or not client.has_collection(name):
                raise CorruptIndex(f"Index version {folder.name}: Milvus collection {name!r} does not exist "
                                   f"at {self.uri}.")
            client.load_collection(name)
            count = int(client.get_collection_stats(name).get("row_count", -1))
        except CorruptIndex:
            raise
        except Exception as exc:  # pymilvus raises its own and gRPC errors for an unreachable server
            raise CorruptIndex(f"Index version {folder.name}: Milvus at {self.uri} failed: {exc}") from exc
        if count != manifest.vector_count:
            raise CorruptIndex(f"Index version {folder.name} is inconsistent: Milvus collection {name} holds "
                               f"{count} vectors, the manifest says {manifest.vector_count}.")
        return MilvusVectors(client, name, exact=manifest.index_type == "FLAT")

    def discard(self, manifest: "Manifest") -> None:
        if manifest.collection and self.client.has_collection(manifest.collection):
            self.client.drop_collection(manifest.collection)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def release_embedded(uri: str) -> None:
    """Stop this process's embedded milvus-lite for ``uri`` so that another process can open the file."""
    if not is_local_file(uri):
        return
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:
        return
    server_manager_instance.release_server(uri)


def _entity(row: int, product: Product, vector: np.ndarray) -> dict[str, Any]:
    return {
        "row": row, "product_id": product.id, "category": product.category.lower(),
        "brand": product.brand.lower(),
        "product_type": product.product_type.value.lower() if product.product_type else "",
        "price": float(product.price) if product.price is not None else 0.0,
        "has_price": product.price is not None, "in_stock": bool(product.in_stock),
        "vector": np.asarray(vector, np.float32).tolist(),
    }
