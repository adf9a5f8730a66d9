"""Search filters, and their evaluation as row masks for the backends that filter in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from indexer.records import Product


@dataclass(frozen=True)
class SearchFilters:
    """Text filters compare case-insensitively; a product without a price never passes a price filter."""

    category: str | None = None
    brand: str | None = None
    product_type: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    in_stock: bool | None = None

    def is_empty(self) -> bool:
        return all(value is None for value in vars(self).values())


class _Codes:
    """A text column as integer codes, so a filter is one vectorised comparison."""

    def __init__(self, values: list[str]):
        self.lookup: dict[str, int] = {}
        self.codes = np.array([self.lookup.setdefault(value.lower(), len(self.lookup)) for value in values],
                              dtype=np.int32)

    def equals(self, value: str) -> np.ndarray:
        code = self.lookup.get(value.lower())
        return self.codes == code if code is not None else np.zeros(len(self.codes), bool)


class FilterColumns:
    """The filterable fields of every product as arrays: a filter costs a few vectorised comparisons."""

    def __init__(self, products: Sequence[Product]):
        self.count = len(products)
        self._category = _Codes([product.category for product in products])
        self._brand = _Codes([product.brand for product in products])
        self._type = _Codes([product.product_type.value if product.product_type else "" for product in products])
        self._price = np.array([np.nan if p.price is None else p.price for p in products], dtype=np.float64)
        self._in_stock = np.array([product.in_stock for product in products], dtype=bool)

    def mask(self, filters: SearchFilters, exclude_row: int | None = None) -> np.ndarray | None:
        """Rows passing ``filters`` (minus ``exclude_row``), or None when every row passes."""
        if filters.is_empty() and exclude_row is None:
            return None
        mask = np.ones(self.count, bool)
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
        if exclude_row is not None:
            mask[exclude_row] = False
        return mask
