"""Serve searches from the live index version and switch to a newer one without pausing.

An ``IndexVersion`` is immutable once loaded; ``IndexStore`` holds a reference to the live one and
replaces it in a single assignment, so a search that started on the old version finishes on it.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from indexer.build import Manifest, read_current
from indexer.catalog import Product

log = logging.getLogger(__name__)
SUBSET_EXACT_LIMIT = 50_000  # a filtered subset this small is scanned exactly (a few ms)


class IndexNotFound(RuntimeError):
    """No finished version exists yet in the index folder."""


class CorruptIndex(RuntimeError):
    """A version's files are missing, truncated or inconsistent with each other."""


class UnknownProduct(KeyError):
    """No product with that id in the live version."""


@dataclass(frozen=True)
class SearchFilters:
    category: str | None = None
    brand: str | None = None
    product_type: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    in_stock: bool | None = None

    def is_empty(self) -> bool:
        return all(value is None for value in vars(self).values())


@dataclass(frozen=True)
class SearchHit:
    product: Product
    score: float


class _Codes:
    """A text column as integer codes, so a filter is one vectorised comparison."""

    def __init__(self, values: list[str]):
        self.lookup: dict[str, int] = {}
        self.codes = np.array([self.lookup.setdefault(value.lower(), len(self.lookup)) for value in values],
                              dtype=np.int32)

    def equals(self, value: str) -> np.ndarray:
        code = self.lookup.get(value.lower())
        return self.codes == code if code is not None else np.zeros(len(self.codes), bool)


class IndexVersion:
    """One loaded, validated version: FAISS index, vectors, products and filter columns."""

    def __init__(self, path: Path):
        """:raise CorruptIndex: when any part is missing or disagrees with the manifest."""
        self.path = path
        try:
            self.manifest = Manifest.read(path / "manifest.json")
            self.index = faiss.read_index(str(path / "index.faiss"))
            self.vectors = np.load(path / "vectors.npy", mmap_mode="r")
            with open(path / "products.jsonl", encoding="utf-8") as handle:
                records = [json.loads(line) for line in handle if line.strip()]
            self.products = [Product.from_record(record) for record in records]
            faiss_ids = np.array([record["faiss_id"] for record in records], dtype=np.int64)
        except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
            raise CorruptIndex(f"Index version {path.name} cannot be loaded: {exc}") from exc
        self._check(records)
        self.row_of_id = {product.id: row for row, product in enumerate(self.products)}
        self._faiss_ids = faiss_ids
        order = np.argsort(faiss_ids)
        self._sorted_faiss_ids, self._sorted_rows = faiss_ids[order], order
        self._category = _Codes([product.category for product in self.products])
        self._brand = _Codes([product.brand for product in self.products])
        self._type = _Codes([product.product_type.value if product.product_type else "" for product in self.products])
        self._price = np.array([np.nan if p.price is None else p.price for p in self.products], dtype=np.float64)
        self._in_stock = np.array([product.in_stock for product in self.products], dtype=bool)
        self.exact = self.manifest.index_type == "Flat"

    @property
    def name(self) -> str:
        return self.manifest.version

    def _check(self, records: list[dict]) -> None:
        count, dim = self.manifest.count, self.manifest.dim
        problems = []
        if len(records) != count:
            problems.append(f"{len(records)} products but the manifest says {count}")
        if self.vectors.shape != (count, dim):
            problems.append(f"vectors are {self.vectors.shape}, expected {(count, dim)}")
        if self.index.ntotal != count or self.index.d != dim:
            problems.append(f"FAISS index holds {self.index.ntotal} x {self.index.d}, expected {count} x {dim}")
        if problems:
            raise CorruptIndex(f"Index version {self.path.name} is inconsistent: {'; '.join(problems)}.")

    def search(self, vector: np.ndarray, k: int, filters: SearchFilters = SearchFilters(),
               exclude_row: int | None = None) -> list[SearchHit]:
        """The ``k`` best products by cosine similarity among those passing ``filters``.

        Returns exactly ``min(k, matching products)`` hits however selective the filters are.
        """
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != self.manifest.dim:
            raise ValueError(f"Query has dimension {query.shape[1]}, the index {self.manifest.dim}.")
        mask = self._mask(filters)
        if exclude_row is not None:
            mask = np.ones(len(self.products), bool) if mask is None else mask.copy()
            mask[exclude_row] = False
        if mask is None:
            return self._ann(query, k, None) if not self.exact else self._scan(query, k, None)
        allowed = np.flatnonzero(mask)
        if self.exact or len(allowed) <= SUBSET_EXACT_LIMIT:
            return self._scan(query, k, allowed)
        hits = self._ann(query, k, allowed)
        return hits if len(hits) >= min(k, len(allowed)) else self._scan(query, k, allowed)

    def _mask(self, filters: SearchFilters) -> np.ndarray | None:
        if filters.is_empty():
            return None
        mask = np.ones(len(self.products), bool)
        if filters.category is not None:
            mask &= self._category.equals(filters.category)
        if filters.brand is not None:
            mask &= self._brand.equals(filters.brand)
        if filters.product_type is not None:
            mask &= self._type.equals(filters.product_type)
        if filters.min_price is not None:
            mask &= self._price >= filters.min_price  # NaN (no price) never passes a price filter
        if filters.max_price is not None:
            mask &= self._price <= filters.max_price
        if filters.in_stock is not None:
            mask &= self._in_stock == filters.in_stock
        return mask

    def _scan(self, query: np.ndarray, k: int, rows: np.ndarray | None) -> list[SearchHit]:
        """Exact search by matrix product over all rows, or over ``rows`` only."""
        candidates = np.arange(len(self.products)) if rows is None else rows
        if len(candidates) == 0 or k <= 0:
            return []
        scores = np.asarray(self.vectors[candidates] if rows is not None else self.vectors) @ query[0]
        take = min(k, len(candidates))
        best = np.argpartition(-scores, take - 1)[:take]
        best = best[np.lexsort((candidates[best], -scores[best]))]
        return [SearchHit(self.products[candidates[i]], float(scores[i])) for i in best]

    def _ann(self, query: np.ndarray, k: int, rows: np.ndarray | None) -> list[SearchHit]:
        params = None
        if rows is not None:
            selector = faiss.IDSelectorBatch(self._faiss_ids[rows])
            base = faiss.downcast_index(self.index.index)
            if isinstance(base, faiss.IndexHNSW):
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(base.hnsw.efSearch, k))
            else:
                params = faiss.SearchParameters(sel=selector)
        scores, ids = self.index.search(query, k, params=params)
        found = ids[0] >= 0
        positions = np.searchsorted(self._sorted_faiss_ids, ids[0][found])
        rows_found = self._sorted_rows[positions]
        return [SearchHit(self.products[row], float(score)) for row, score in zip(rows_found, scores[0][found])]


class IndexStore:
    """The live version of an index folder, reloadable while searches run."""

    def __init__(self, root: Path, live: IndexVersion):
        self.root = root
        self._live = live
        self._reload_lock = threading.Lock()
        self.last_error: str | None = None

    @classmethod
    def open(cls, root: str | Path) -> "IndexStore":
        """:raise IndexNotFound: when nothing was indexed yet.  :raise CorruptIndex: for a broken version."""
        root = Path(root)
        version = read_current(root)
        if version is None:
            raise IndexNotFound(f"No index in {root}: run `shoplens index --catalog ...` first.")
        return cls(root, IndexVersion(root / version))

    @property
    def live(self) -> IndexVersion:
        return self._live

    def search(self, vector: np.ndarray, k: int, filters: SearchFilters = SearchFilters()) -> list[SearchHit]:
        return self._live.search(vector, k, filters)

    def get(self, product_id: str) -> Product:
        """:raise UnknownProduct:"""
        live = self._live
        row = live.row_of_id.get(product_id)
        if row is None:
            raise UnknownProduct(product_id)
        return live.products[row]

    def similar(self, product_id: str, k: int, filters: SearchFilters = SearchFilters()) -> list[SearchHit]:
        """Products closest to ``product_id``'s image, without the product itself.  :raise UnknownProduct:"""
        live = self._live
        row = live.row_of_id.get(product_id)
        if row is None:
            raise UnknownProduct(product_id)
        return live.search(np.asarray(live.vectors[row]), k, filters, exclude_row=row)

    def reload(self, expected_dim: int | None = None, expected_model_id: str | None = None) -> bool:
        """Switch to the version ``current`` names if it is newer; keep the old one if it is broken.

        Returns True when a new version went live. A broken version is reported in ``last_error``.
        """
        with self._reload_lock:
            name = read_current(self.root)
            if name is None or name == self._live.name:
                return False
            try:
                candidate = IndexVersion(self.root / name)
                if expected_dim is not None and candidate.manifest.dim != expected_dim:
                    raise CorruptIndex(f"Version {name} has dimension {candidate.manifest.dim}, "
                                       f"the model {expected_dim}.")
                if expected_model_id is not None and candidate.manifest.model_id != expected_model_id:
                    raise CorruptIndex(f"Version {name} was built with {candidate.manifest.model_id}, but this "
                                       f"server runs {expected_model_id}; restart it to switch models.")
            except CorruptIndex as exc:
                if self.last_error != str(exc):
                    log.error("Keeping version %s: %s", self._live.name, exc)
                self.last_error = str(exc)
                return False
            self._live = candidate
            self.last_error = None
            log.info("Index version %s is live (%d products)", name, candidate.manifest.count)
            return True
