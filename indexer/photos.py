"""Every photo of a product through the same fetcher, embedding cache and engines as its main image.

The fetcher and the engines work product by product; an extra image goes through them as a stand-in
product (its id ``image_key(product, n)``, its image that photo), and ``regroup`` puts the results back
together: a product is kept when its main image has a vector, with those of its extra images that have one.
A failed extra image is reported as a skipped *image* of a product that stays searchable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from indexer.records import Product, SkippedRow
from indexer.stores.image_rows import image_key


@dataclass
class ProductPhotos:
    """Products with the vectors of all their kept photos, laid out as ``indexer.stores.image_rows`` says."""

    products: list[Product]
    vectors: np.ndarray
    skipped: list[SkippedRow] = field(default_factory=list)  # rows and images, by line

    @property
    def image_count(self) -> int:
        return len(self.vectors)


def one_per_image(products: Sequence[Product]) -> list[Product]:
    """Each product, then a stand-in for each of its extra images, in catalog order."""
    items: list[Product] = []
    for product in products:
        items.append(product)
        items.extend(Product(id=image_key(product.id, number), title=product.title, image=image, line=product.line)
                     for number, image in enumerate(product.images, start=1))
    return items


def regroup(products: Sequence[Product], embedded: Sequence[Product], vectors: np.ndarray,
            skipped: Sequence[SkippedRow], dim: int) -> ProductPhotos:
    """Products (catalog order) whose main image got a vector, with the extra images that got one.

    ``embedded``/``vectors``: the stand-ins that got a vector (after the fetcher: local paths); ``skipped``:
    every row the reader, fetcher and engine left out, stand-ins included.
    """
    vector_of = {item.id: row for row, item in enumerate(embedded)}
    local_image = {item.id: item.image for item in embedded}
    owners = {image_key(product.id, number): (product, image) for product in products
              for number, image in enumerate(product.images, start=1)}
    kept: list[Product] = []
    main_rows: list[int] = []
    extra_rows: list[int] = []
    for product in products:
        if product.id not in vector_of:
            continue
        keys = [image_key(product.id, number) for number in range(1, len(product.images) + 1)]
        present = [key for key in keys if key in vector_of]
        kept.append(dataclasses.replace(product, image=local_image[product.id],
                                        images=tuple(local_image[key] for key in present)))
        main_rows.append(vector_of[product.id])
        extra_rows.extend(vector_of[key] for key in present)
    kept_ids = {product.id for product in kept}
    report: list[SkippedRow] = []
    for row in skipped:
        owner = owners.get(row.product_id)
        if owner is None:
            report.append(row)
        elif owner[0].id in kept_ids:  # an extra image of a product that was left out is not news
            report.append(SkippedRow(row.line, row.reason, f"{row.message}; the product is kept without it",
                                     owner[0].id, owner[1]))
    order = main_rows + extra_rows
    stacked = np.asarray(vectors, np.float32)[order] if order else np.zeros((0, dim), np.float32)
    return ProductPhotos(kept, stacked, sorted(report, key=lambda row: row.line))
