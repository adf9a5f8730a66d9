"""Serve searches from the live index version and switch to a newer one without pausing.

An ``IndexVersion`` is immutable once loaded; ``IndexStore`` holds a reference to the live one and
replaces it in a single assignment, so a search that started on the old version finishes on it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from indexer.records import MANIFEST_VERSION, Manifest, Product
from indexer.stores.backends import VectorStores
from indexer.stores.filters import SearchFilters
from indexer.stores.image_rows import ImageRows, ImageRowsView, ProductVectors
from indexer.stores.product_table import ProductTable
from indexer.stores.recommend import Session, recommend
from indexer.stores.vector_store import CorruptIndex, VectorIndex, VectorStoreError
from indexer.stores.versions import read_current
from vision.precision import FIDELITY_BOUND, Precision, fidelity_between

log = logging.getLogger(__name__)
__all__ = ["CorruptIndex", "IndexNotFound", "IndexStore", "IndexVersion", "Recommendations", "SearchFilters",
           "SearchHit", "Session", "UnknownProduct"]


class IndexNotFound(RuntimeError):
    """No finished version exists yet in the index folder."""


class UnknownProduct(KeyError):
    """No product with that id in the live version."""


MAX_LISTED_VARIANTS = 100  # a result lists at most this many other variants of its group (Shopify allows 100)


@dataclass(frozen=True)
class SearchHit:
    product: Product
    score: float
    image: int = 0  # the product's photo that matched best: 0 its main image, n its n-th extra image
    variants: tuple[Product, ...] = ()  # a collapsed group's other variants, in catalog order


@dataclass(frozen=True)
class RecommendedHit(SearchHit):
    because: str = ""  # the session's positive id this product is closest to


@dataclass(frozen=True)
class Recommendations:
    hits: list[RecommendedHit]
    unknown: list[str]  # session ids this version does not have (sold out and removed, or never there)


class IndexVersion:
    """One loaded, validated version: manifest, products, and its vectors in whichever backend holds them."""

    def __init__(self, path: Path, stores: VectorStores | None = None):
        """:raise CorruptIndex: when any part is missing, disagrees with the manifest or cannot be reached."""
        self.path = path
        try:
            self.manifest = Manifest.read(path / "manifest.json")
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise CorruptIndex(f"Index version {path.name} cannot be loaded: {exc}") from exc
        if self.manifest.format > MANIFEST_VERSION:
            raise CorruptIndex(f"Index version {path.name} was written by a newer shoplens (format "
                               f"{self.manifest.format}, this one reads up to {MANIFEST_VERSION}); upgrade this server "
                               "or re-index with this version.")
        self.products = ProductTable.open(path)
        if len(self.products) != self.manifest.count:
            raise CorruptIndex(f"Index version {path.name} is inconsistent: {len(self.products)} products but the "
                               f"manifest says {self.manifest.count}.")
        self.images = ImageRows.open(path, self.manifest)
        stores = stores or VectorStores(index_dir=path.parent)
        rows = ImageRowsView(self.products.filter_columns(), self.images)
        try:
            image_vectors: VectorIndex = stores.get(self.manifest.vector_store).open(path, self.manifest, rows)
        except VectorStoreError as exc:
            raise CorruptIndex(f"Index version {path.name}: {exc}") from exc
        self.vectors = ProductVectors(image_vectors, self.images,
                                      self.products.group_of if self.manifest.variants else None)

    @property
    def name(self) -> str:
        return self.manifest.version

    def search(self, vector: np.ndarray, k: int, filters: SearchFilters = SearchFilters(),
               exclude_row: int | None = None, collapse: bool = True) -> list[SearchHit]:
        """The ``k`` best products by cosine similarity among those passing ``filters``.

        Returns exactly ``min(k, matching products)`` hits however selective the filters are. ``collapse``
        counts a group of variants once: its best-matching variant, listing the others.
        """
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.manifest.dim:
            raise ValueError(f"Query has dimension {query.shape[0]}, the index {self.manifest.dim}.")
        found = self.vectors.matches(query, k, filters, exclude_row, collapse)
        products = self.products.take(match.row for match in found)
        hits = [SearchHit(product, match.score, match.image) for product, match in zip(products, found)]
        return self.with_variants(hits, [match.row for match in found]) if collapse else hits

    def with_variants(self, hits: list[SearchHit], rows: list[int]) -> list[SearchHit]:
        """``hits`` (of product ``rows``) listing the other variants of their groups."""
        if not self.vectors.has_variants:
            return hits
        listed = []
        for hit, row in zip(hits, rows):
            others = [other for other in self.products.variant_rows(row) if other != row][:MAX_LISTED_VARIANTS]
            listed.append(replace(hit, variants=tuple(self.products.take(others))) if others else hit)
        return listed

    def similar(self, row: int, k: int, filters: SearchFilters = SearchFilters(),
                collapse: bool = True) -> list[SearchHit]:
        """Products closest to any photo of product ``row`` (never itself, nor with ``collapse`` its own variants):
        each candidate scores its best pair of photos, so an on-model shot finds other on-model shots even
        when the packshots differ."""
        best: dict[int, tuple[SearchHit, int]] = {}  # by group (collapsed) or product row
        for vector in self.vectors.image_vectors(row):
            query = np.ascontiguousarray(vector, dtype=np.float32)
            for match in self.vectors.matches(query, k, filters, exclude_row=row, collapse=collapse):
                key = self.vectors.key_of(match.row, collapse)
                if key not in best or match.score > best[key][0].score:
                    best[key] = (SearchHit(self.products[match.row], match.score, match.image), match.row)
        ranked = sorted(best.values(), key=lambda item: -item[0].score)[:k]
        hits, rows = [hit for hit, _ in ranked], [row for _, row in ranked]
        return self.with_variants(hits, rows) if collapse else hits


class IndexStore:
    """The live version of an index folder, reloadable while searches run."""

    def __init__(self, root: Path, live: IndexVersion, stores: VectorStores | None = None):
        self.root = root
        self._live = live
        self.stores = stores or VectorStores(index_dir=root)
        self._reload_lock = threading.Lock()
        self.last_error: str | None = None

    @classmethod
    def open(cls, root: str | Path, stores: VectorStores | None = None) -> "IndexStore":
        """:raise IndexNotFound: when nothing was indexed yet.  :raise CorruptIndex: for a broken version."""
        root = Path(root)
        stores = stores or VectorStores(index_dir=root)
        version = read_current(root)
        if version is None:
            raise IndexNotFound(f"No index in {root}: run `shoplens index --catalog ...` first.")
        return cls(root, IndexVersion(root / version, stores), stores)

    @property
    def live(self) -> IndexVersion:
        return self._live

    def search(self, vector: np.ndarray, k: int, filters: SearchFilters = SearchFilters(),
               collapse: bool = True) -> list[SearchHit]:
        return self._live.search(vector, k, filters, collapse=collapse)

    def get(self, product_id: str) -> Product:
        """:raise UnknownProduct:"""
        live = self._live
        row = live.products.row_of(product_id)
        if row is None:
            raise UnknownProduct(product_id)
        return live.products[row]

    def image_path(self, product_id: str, number: int = 0) -> str | None:
        """The file of a product's photo (0: its main image), None when it has no such photo.
        :raise UnknownProduct:"""
        live = self._live
        row = live.products.row_of(product_id)
        if row is None:
            raise UnknownProduct(product_id)
        return live.products[row].image if number == 0 else live.images.path(row, number)

    def image_count(self, product_id: str) -> int:
        """:raise UnknownProduct:"""
        live = self._live
        row = live.products.row_of(product_id)
        if row is None:
            raise UnknownProduct(product_id)
        return live.images.image_count(row)

    def similar(self, product_id: str, k: int, filters: SearchFilters = SearchFilters(),
                collapse: bool = True) -> list[SearchHit]:
        """Products closest to ``product_id``'s images, without the product itself.  :raise UnknownProduct:"""
        live = self._live
        row = live.products.row_of(product_id)
        if row is None:
            raise UnknownProduct(product_id)
        return live.similar(row, k, filters, collapse)

    def variants(self, product_id: str) -> list[Product]:
        """Every variant of ``product_id``'s group, itself included, in catalog order.  :raise UnknownProduct:"""
        live = self._live
        row = live.products.row_of(product_id)
        if row is None:
            raise UnknownProduct(product_id)
        return live.products.take(live.products.variant_rows(row))

    def recommend(self, session: Session, k: int, filters: SearchFilters = SearchFilters()) -> Recommendations:
        """Products for a shopper's session (``indexer.stores.recommend``), never the session's own products.

        Ids the live version lacks are left out and listed; with no known positive left there is nothing to
        recommend from, and no hits.
        """
        live = self._live
        unknown = [product_id for product_id in (*session.positive, *session.negative)
                   if live.products.row_of(product_id) is None]
        if unknown:
            gone = set(unknown)
            session = replace(session, positive=_without(session.positive, gone),
                              negative=_without(session.negative, gone))
        if not session.positive:
            return Recommendations([], unknown)
        found = recommend(live.products, live.vectors, session, k, filters)
        products = live.products.take(item.row for item in found)
        hits = [RecommendedHit(product, item.score, because=item.because) for product, item in zip(products, found)]
        return Recommendations(live.with_variants(hits, [item.row for item in found]), unknown)

    def reload(self, expected_dim: int | None = None, expected_model_id: str | None = None,
               query_precision: Precision | None = None) -> bool:
        """Switch to the version ``current`` names if it is newer; keep the old one if it is broken, made by
        another model, or in a precision too far from the queries' (``query_precision``).

        Returns True when a new version went live. A refused version is reported in ``last_error``.
        """
        with self._reload_lock:
            name = read_current(self.root)
            if name is None or name == self._live.name:
                return False
            try:
                candidate = IndexVersion(self.root / name, self.stores)
                if expected_dim is not None and candidate.manifest.dim != expected_dim:
                    raise CorruptIndex(f"Version {name} has dimension {candidate.manifest.dim}, "
                                       f"the model {expected_dim}.")
                if expected_model_id is not None and candidate.manifest.model_id != expected_model_id:
                    raise CorruptIndex(f"Version {name} was built with {candidate.manifest.model_id}, but this "
                                       f"server runs {expected_model_id}; restart it to switch models.")
                manifest = candidate.manifest
                if query_precision is not None and \
                        fidelity_between(query_precision, manifest.built_in) < FIDELITY_BOUND:
                    raise CorruptIndex(f"Version {name} was built in {manifest.precision} (cosine "
                                       f"{manifest.precision_fidelity:.4f} to fp32), too far from this server's "
                                       "queries; restart it (it will query in fp32) or re-index in fp32.")
            except CorruptIndex as exc:
                if self.last_error != str(exc):
                    log.error("Keeping version %s: %s", self._live.name, exc)
                self.last_error = str(exc)
                return False
            self._live = candidate
            self.last_error = None
            log.info("Index version %s is live (%d products)", name, candidate.manifest.count)
            return True


def _without(weights: Mapping[str, float], gone: set[str]) -> dict[str, float]:
    return {key: value for key, value in weights.items() if key not in gone}
