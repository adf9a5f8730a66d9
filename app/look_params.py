"""Turn a try-on request's ``looks`` JSON into makeup layers, or raise a 4xx ``ApiError``."""

from __future__ import annotations

import json

from app.errors import ApiError
from indexer.records import Product
from vision.color import parse_hex
from vision.looks import Finish, Layer, ProductType


def parse_looks(raw: str | None, product_lookup, max_looks: int) -> list[tuple[Layer, Product | None]]:
    """``looks`` JSON: a list of ``{"product_id", "intensity"?}`` or ``{"type", "color", "finish"?, "intensity"?}``.

    :raise ApiError: invalid_parameter for malformed looks; unknown_product for an id not in the catalog.
    """
    if raw is None or not raw.strip():
        raise ApiError("invalid_parameter", "looks is required: a JSON list of products or colours to apply.")
    try:
        items = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise ApiError("invalid_parameter", "looks is not valid JSON.") from None
    if not isinstance(items, list) or not items:
        raise ApiError("invalid_parameter", "looks must be a non-empty JSON list.")
    if len(items) > max_looks:
        raise ApiError("invalid_parameter", f"At most {max_looks} looks per request, got {len(items)}.")
    return [_look(item, number, product_lookup) for number, item in enumerate(items, start=1)]


def _look(item, number: int, product_lookup) -> tuple[Layer, Product | None]:
    if not isinstance(item, dict):
        raise ApiError("invalid_parameter", f"looks[{number}] must be an object.")
    intensity = item.get("intensity", 1.0)
    if isinstance(intensity, bool) or not isinstance(intensity, (int, float)) or not 0 <= intensity <= 1:
        raise ApiError("invalid_parameter", f"looks[{number}].intensity must be a number from 0 to 1.")
    if "product_id" in item:
        product = product_lookup(str(item["product_id"]))  # raises UnknownProduct
        if product.product_type is None or not product.shade_hex:
            raise ApiError("invalid_parameter", f"Product {product.id!r} is not a makeup shade that can be tried on.")
        return Layer(product.product_type, parse_hex(product.shade_hex), product.finish or Finish.SATIN,
                     float(intensity)), product
    try:
        return Layer.of(str(item.get("type", "")), str(item.get("color", "")), item.get("finish") or None,
                        float(intensity)), None
    except ValueError:
        raise ApiError("invalid_parameter",
                       f"looks[{number}] needs a product_id, or a type ({', '.join(ProductType)}), a color "
                       f"#RRGGBB and optionally a finish ({', '.join(Finish)}).") from None
