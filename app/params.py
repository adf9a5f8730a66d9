"""Turn search and filter arguments into typed queries, or raise a 4xx ``ApiError`` before any model runs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from werkzeug.datastructures import FileStorage

from app.errors import ApiError
from app.uploads import uploaded_bytes
from indexer.stores.filters import SearchFilters
from vision.looks import ProductType

DEFAULT_K = 20
MAX_K = 100
MAX_QUERY_CHARS = 500
DEFAULT_TEXT_WEIGHT = 0.5


@dataclass(frozen=True)
class Crop:
    """A box in pixels of the upright (EXIF-corrected) image."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class SearchQuery:
    image: bytes | None
    text: str | None
    text_weight: float
    k: int
    filters: SearchFilters
    crop: Crop | None


def parse_search(args: Mapping[str, str], files: Mapping[str, FileStorage] | None, *,
                 require_image: bool) -> SearchQuery:
    """:raise ApiError: missing_image, missing_query or invalid_parameter."""
    image = uploaded_bytes(files, "image") if require_image else None
    text = (args.get("q") or "").strip() or None
    if text is not None and len(text) > MAX_QUERY_CHARS:
        raise ApiError("invalid_parameter", f"q is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}.")
    if image is None and text is None:
        raise ApiError("missing_query", "Give a text query in q (or upload an image with POST).")
    return SearchQuery(image=image, text=text, k=parse_k(args.get("k")),
                       text_weight=parse_fraction(args.get("text_weight"), "text_weight", DEFAULT_TEXT_WEIGHT),
                       filters=parse_filters(args), crop=parse_crop(args.get("crop")))


def parse_k(raw: str | None, default: int = DEFAULT_K, maximum: int = MAX_K) -> int:
    if raw is None or raw == "":
        return default
    value = parse_int(raw, "k")
    if not 1 <= value <= maximum:
        raise ApiError("invalid_parameter", f"k must be between 1 and {maximum}, got {value}.")
    return value


def parse_filters(args: Mapping[str, str]) -> SearchFilters:
    product_type = _text(args, "product_type")
    if product_type is not None and product_type not in {member.value for member in ProductType}:
        raise ApiError("invalid_parameter", f"product_type must be one of {', '.join(ProductType)}.")
    min_price = parse_price(args.get("min_price"), "min_price")
    max_price = parse_price(args.get("max_price"), "max_price")
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ApiError("invalid_parameter", "min_price is larger than max_price.")
    return SearchFilters(category=_text(args, "category"), brand=_text(args, "brand"), product_type=product_type,
                         min_price=min_price, max_price=max_price, in_stock=parse_bool(args.get("in_stock"), "in_stock"))


def parse_crop(raw: str | None) -> Crop | None:
    if raw is None or raw.strip() == "":
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        raise ApiError("invalid_parameter", "crop must be x,y,w,h in pixels.")
    x, y, width, height = (parse_int(part, "crop") for part in parts)
    if x < 0 or y < 0 or width < 1 or height < 1:
        raise ApiError("invalid_parameter", "crop needs x,y >= 0 and a positive width and height.")
    return Crop(x, y, width, height)


def parse_int(raw: str, name: str) -> int:
    try:
        text = raw.strip()
        if len(text) > 12:
            raise ValueError
        return int(text)
    except (ValueError, AttributeError):
        raise ApiError("invalid_parameter", f"{name} must be an integer, got {raw[:40]!r}.") from None


def parse_price(raw: str | None, name: str) -> float | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiError("invalid_parameter", f"{name} must be a number, got {raw[:40]!r}.") from None
    if not math.isfinite(value) or value < 0:
        raise ApiError("invalid_parameter", f"{name} must be a non-negative number.")
    return value


def parse_fraction(raw: str | None, name: str, default: float) -> float:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError("invalid_parameter", f"{name} must be a number between 0 and 1.") from None
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise ApiError("invalid_parameter", f"{name} must be between 0 and 1.")
    return value


def parse_bool(raw: str | None, name: str) -> bool | None:
    if raw is None or raw.strip() == "":
        return None
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise ApiError("invalid_parameter", f"{name} must be true or false.")


def _text(args: Mapping[str, str], name: str) -> str | None:
    value = (args.get(name) or "").strip()
    if len(value) > 200:
        raise ApiError("invalid_parameter", f"{name} is too long.")
    return value or None
