"""Turn a try-on request's validated looks into makeup layers: catalog products become their shade."""

from __future__ import annotations

from typing import Callable, Sequence

from app.api_requests import ColorLook, ProductLook
from app.errors import ApiError
from indexer.records import Product
from vision.color import parse_hex
from vision.looks import Finish, Layer


def look_layers(looks: Sequence[ProductLook | ColorLook], product_lookup: Callable[[str], Product],
                max_looks: int) -> list[tuple[Layer, Product | None]]:
    """One layer per look, with the catalog product it came from (None for an explicit colour).

    :raise ApiError: invalid_parameter for too many looks or a product that is not a shade.
    :raise UnknownProduct: (404 unknown_product) for an id not in the catalog.
    """
    if len(looks) > max_looks:
        raise ApiError("invalid_parameter", f"At most {max_looks} looks per request, got {len(looks)}.")
    return [_layer(look, product_lookup) for look in looks]


def _layer(look: ProductLook | ColorLook, product_lookup: Callable[[str], Product]) -> tuple[Layer, Product | None]:
    if isinstance(look, ColorLook):
        return Layer(look.type, parse_hex(look.color), look.finish or Finish.SATIN, look.intensity), None
    product = product_lookup(look.product_id)
    if product.product_type is None or not product.shade_hex:
        raise ApiError("invalid_parameter", f"Product {product.id!r} is not a makeup shade that can be tried on.")
    return Layer(product.product_type, parse_hex(product.shade_hex), product.finish or Finish.SATIN,
                 look.intensity), product
