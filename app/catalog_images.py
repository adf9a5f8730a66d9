"""Catalog images as resized JPEG thumbnails, addressed by product id only (never by path)."""

from __future__ import annotations

import functools
import hashlib
import io
import os

from flask import Blueprint, Response, request

from app.errors import ApiError
from app.params import parse_int
from app.resources import resources
from vision.images import ImageError, ImageLimits, load_image

bp = Blueprint("catalog", __name__, url_prefix="/catalog")
SIZES = (128, 256, 384, 512, 768)
DEFAULT_SIZE = 384


@bp.get("/images/<path:product_id>")
def product_image(product_id: str):
    """:raise 404: unknown_product.  :raise 400: invalid_parameter for a size not in SIZES."""
    size = parse_int(request.args.get("size", str(DEFAULT_SIZE)), "size")
    if size not in SIZES:
        raise ApiError("invalid_parameter", f"size must be one of {', '.join(map(str, SIZES))}.")
    product = resources().store.get(product_id)
    try:
        stat_key = _stat_key(product.image)
        body = _thumbnail(product.image, stat_key, size)
    except (OSError, ImageError):
        raise ApiError("not_found", f"The image of product {product_id!r} is not available.") from None
    response = Response(body, mimetype="image/jpeg")
    response.set_etag(hashlib.sha1(f"{product.image}|{stat_key}|{size}".encode()).hexdigest())
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response.make_conditional(request)


def _stat_key(path: str) -> str:
    stat = os.stat(path)
    return f"{stat.st_size}:{stat.st_mtime_ns}"


@functools.lru_cache(maxsize=2048)
def _thumbnail(path: str, stat_key: str, size: int) -> bytes:
    """Resized once per (file version, size); ``stat_key`` makes a changed file miss the cache."""
    with open(path, "rb") as handle:
        image = load_image(handle.read(), ImageLimits(max_bytes=64 * 1024 * 1024), max_side=size)
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85, optimize=True)
    return buffer.getvalue()
