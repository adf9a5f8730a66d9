"""Several photos per product: one vector per image, searched by image, answered by product.

A version's vectors are laid out as one row per product's main image (row = product row, as in versions
before extra images), then one row per extra image, grouped by product in product order. ``images.arrow``
says, for each extra row, whose photo it is (``product_row``), which one (``number``, 1-based: 0 is the main
image) and where the file is. A version without the file has one image per product.

The backends search images; ``ProductVectors`` turns that into products the way Google Shopping and Pinterest
do: a product scores its best image, and a search returns exactly k *distinct* products, asking the backend
for more images when a few products fill the first ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa

from indexer.records import Manifest, Product
from indexer.stores.filters import FilterColumns, SearchFilters
from indexer.stores.product_table import group_range
from indexer.stores.vector_store import CorruptIndex, VectorIndex

IMAGES_FILE = "images.arrow"
SCHEMA = pa.schema([("product_row", pa.int64()), ("number", pa.int32()), ("path", pa.large_string())])
FETCH_SLACK = 2  # first ask for k x (2 x the mean images per product): enough unless a few products fill it


def vector_products(products: Sequence[Product]) -> list[Product]:
    """The product of every vector row, in the layout above (what a backend storing scalars per row needs)."""
    return [*products, *(product for product in products for _ in product.images)]


def image_key(product_id: str, number: int) -> str:
    """A stable text key per image (FAISS ids, embedding stand-ins); 0 is the product itself."""
    return product_id if number == 0 else f"{product_id}\x1f{number}"


def write_image_rows(path: Path, products: Sequence[Product]) -> int:
    """Write ``images.arrow`` for ``products``' extra images; returns how many (none: no file)."""
    rows = [(row, number, image) for row, product in enumerate(products)
            for number, image in enumerate(product.images, start=1)]
    if not rows:
        return 0
    product_rows, numbers, paths = zip(*rows)
    table = pa.table({"product_row": pa.array(product_rows, pa.int64()), "number": pa.array(numbers, pa.int32()),
                      "path": pa.array(paths, pa.large_string())}, schema=SCHEMA)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, SCHEMA) as writer:
        writer.write_table(table)
    return len(rows)


class ImageRows:
    """Which product and which of its photos each vector row is."""

    def __init__(self, products: int, product_row: np.ndarray, number: np.ndarray, paths: pa.Array | None = None):
        self.products = products
        self._extra_product = product_row  # sorted: extras are grouped by product
        self._extra_number = number
        self._paths = paths
        self.count = products + len(product_row)
        self.product_of = np.concatenate([np.arange(products, dtype=np.int64), product_row])
        self.per_product = np.bincount(product_row, minlength=products) + 1 if len(product_row) else None
        self.max_per_product = int(self.per_product.max()) if self.per_product is not None else 1
        self.mean_per_product = self.count / max(1, products)

    @classmethod
    def one_per_product(cls, products: int) -> "ImageRows":
        return cls(products, np.zeros(0, np.int64), np.zeros(0, np.int32))

    @classmethod
    def open(cls, folder: Path, manifest: Manifest) -> "ImageRows":
        """:raise CorruptIndex: when the file is damaged or disagrees with the manifest."""
        path = folder / IMAGES_FILE
        if not path.exists():
            if manifest.vector_count != manifest.count:
                raise CorruptIndex(f"Index version {folder.name}: {IMAGES_FILE} is missing.")
            return cls.one_per_product(manifest.count)
        try:
            table = pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all().combine_chunks()
        except (OSError, pa.ArrowException) as exc:
            raise CorruptIndex(f"Index version {folder.name}: {IMAGES_FILE} is damaged ({exc}).") from exc
        if not table.schema.equals(SCHEMA):
            raise CorruptIndex(f"Index version {folder.name}: {IMAGES_FILE} has columns {table.schema.names}.")
        product_row = table.column("product_row").to_numpy()
        number = table.column("number").to_numpy()
        if (manifest.count + len(product_row) != manifest.vector_count
                or (len(product_row) and (product_row.min() < 0 or product_row.max() >= manifest.count
                                          or np.any(np.diff(product_row) < 0)))):
            raise CorruptIndex(f"Index version {folder.name}: {IMAGES_FILE} does not match its "
                               f"{manifest.count} products and {manifest.vector_count} vectors.")
        return cls(manifest.count, product_row, number, table.column("path").chunk(0))

    @property
    def has_extras(self) -> bool:
        return self.count > self.products

    def number_of(self, row: int) -> int:
        return 0 if row < self.products else int(self._extra_number[row - self.products])

    def rows_of(self, product_row: int) -> np.ndarray:
        """Every image row of a product: its main image first."""
        start, stop = np.searchsorted(self._extra_product, [product_row, product_row + 1])
        return np.concatenate([[product_row], np.arange(start, stop) + self.products]).astype(np.int64)

    def image_count(self, product_row: int) -> int:
        return len(self.rows_of(product_row))

    def path(self, product_row: int, number: int) -> str | None:
        """The file of a product's ``number``-th extra image, or None when it has no such image."""
        if number < 1 or self._paths is None:
            return None
        rows = self.rows_of(product_row)[1:] - self.products
        match = rows[self._extra_number[rows] == number]
        return self._paths[int(match[0])].as_py() if len(match) else None


class ImageFilterColumns:
    """A product filter applied to image rows: an image passes when its product does."""

    def __init__(self, columns: FilterColumns, images: ImageRows):
        self.columns, self.images = columns, images

    def mask(self, filters: SearchFilters, exclude_row: int | None = None) -> np.ndarray | None:
        """``exclude_row`` is an image row (never set by ``ProductVectors``, which drops products itself)."""
        products = self.columns.mask(filters)
        if products is None and exclude_row is None:
            return None
        mask = products[self.images.product_of] if products is not None else np.ones(self.images.count, bool)
        if exclude_row is not None:
            mask[exclude_row] = False
        return mask


class ImageRowsView:
    """What a backend reads of a version's rows when it opens, for image rows (``vector_store.ProductRows``)."""

    def __init__(self, columns: FilterColumns, images: ImageRows):
        self._columns = ImageFilterColumns(columns, images) if images.has_extras else columns

    def filter_columns(self):
        return self._columns


@dataclass(frozen=True)
class Match:
    row: int      # the product's row
    score: float  # its best image's cosine to the query
    image: int    # which image matched best: 0 the main one, n the n-th extra


class ProductVectors:
    """A backend's image vectors searched by product (``vector_store.VectorIndex`` over product rows).

    ``group_of`` maps each product row to its variant group (the row of the group's first variant; None when
    no product has variants); a search that collapses variants counts a group once, shown by its best-matching
    variant.
    """

    def __init__(self, images: VectorIndex, rows: ImageRows, group_of: np.ndarray | None = None):
        self.images, self.rows, self.group_of = images, rows, group_of
        self._max_per_group: int | None = None

    @property
    def has_variants(self) -> bool:
        return self.group_of is not None

    def key_of(self, product_row: int, collapse: bool) -> int:
        """What a search counts once: the product, or with ``collapse`` its group (its first variant's row)."""
        return int(self.group_of[product_row]) if collapse and self.group_of is not None else product_row

    def max_per_group(self) -> int:
        """Most images of one group (computed at the first collapsed search: one pass over the products)."""
        if self._max_per_group is None:
            per_product = self.rows.per_product if self.rows.per_product is not None else 1
            weights = np.broadcast_to(per_product, self.group_of.shape).astype(np.float64)
            self._max_per_group = int(np.bincount(self.group_of, weights=weights).max())
        return self._max_per_group

    def matches(self, query: np.ndarray, k: int, filters: SearchFilters = SearchFilters(),
                exclude_row: int | None = None, collapse: bool = False) -> list[Match]:
        """The ``k`` best products passing ``filters`` (exactly ``min(k, passing products)``), best first.

        ``collapse``: the ``k`` best variant groups instead, each as its best-matching variant passing the
        filters (``exclude_row`` then leaves out the row's whole group).
        """
        groups = self.group_of if collapse else None
        if not self.rows.has_extras and groups is None:
            return [Match(row, score, 0) for row, score in self.images.search(query, k, filters, exclude_row)]
        if k <= 0:
            return []
        excluded_key = self.key_of(exclude_row, collapse) if exclude_row is not None else None
        excluded = 0
        if exclude_row is not None:
            members = group_range(groups, exclude_row)
            excluded = sum(self.rows.image_count(member) for member in members)
        per_key = self.rows.max_per_product if groups is None else self.max_per_group()
        fetch = min(self.rows.count, k * max(1, math.ceil(FETCH_SLACK * self.rows.mean_per_product)) + excluded)
        # k distinct keys are surely among the best (k - 1) x (most images of one key) + 1 images
        enough = (k - 1) * per_key + 1 + excluded
        while True:
            found = self.images.search(query, fetch, filters)
            best: dict[int, Match] = {}
            for row, score in found:  # best first: a key's first image is its best
                product = int(self.rows.product_of[row])
                key = self.key_of(product, collapse)
                if key != excluded_key and key not in best:
                    best[key] = Match(product, score, self.rows.number_of(row))
            if len(best) >= k or len(found) < fetch or fetch >= min(enough, self.rows.count):
                return sorted(best.values(), key=lambda match: (-match.score, match.row))[:k]
            fetch = min(self.rows.count, enough, fetch * 2)

    def search(self, query: np.ndarray, k: int, filters: SearchFilters = SearchFilters(),
               exclude_row: int | None = None, collapse: bool = False) -> list[tuple[int, float]]:
        return [(match.row, match.score) for match in self.matches(query, k, filters, exclude_row, collapse)]

    def image_vectors(self, row: int) -> np.ndarray:
        """Every image vector of product ``row``, its main image first."""
        if not self.rows.has_extras:
            return self.images.vectors_of([row])
        return self.images.vectors_of(self.rows.rows_of(row))

    def vector(self, row: int) -> np.ndarray:
        return self.vectors_of([row])[0]

    def vectors_of(self, rows: Sequence[int]) -> np.ndarray:
        """One vector per product: the normalised mean of its images (for the recommender's session and re-ranking)."""
        if not self.rows.has_extras:
            return self.images.vectors_of(rows)
        groups = [self.rows.rows_of(int(row)) for row in rows]
        if not groups:
            return self.images.vectors_of([])
        stacked = self.images.vectors_of(np.concatenate(groups))  # one read for all: one query to Milvus
        starts = np.cumsum([0] + [len(group) for group in groups[:-1]])
        means = np.add.reduceat(stacked, starts, axis=0)
        return (means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)).astype(np.float32)
