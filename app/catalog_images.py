"""Catalog images as resized JPEG thumbnails, addressed by product id only (never by path)."""

from __future__ import annotations

import functools
import hashlib
import io
import os

from flask import Blueprint, Response, request

from app.api_requests import ThumbnailQuery
from app.api_spec import LOADING, ApiResponses, api
from app.errors import ApiError
from app.resources import resources
from vision.images import ImageError, ImageLimits, load_image

bp = Blueprint("catalog", __name__, url_prefix="/catalog")


@bp.get("/images/<path:product_id>")
@api.validate(resp=ApiResponses("JPEG thumbnail; revalidate with If-None-Match", "invalid_parameter",
                                "unknown_product", "not_found", *LOADING, media="image/jpeg",
                                extra={304: "Not modified (the ETag matched)"}),
              tags=["products"], operation_id="productImage")
def product_image(product_id: str, query: ThumbnailQuery):
    """Product thumbnail

    The product's catalog image (or, with ``image``, another of its photos) as a JPEG whose longest side is
    ``size``, cached by ETag.
    """
    size = int(query.size)
    path = resources().store.image_path(product_id, query.image)
    if path is None:
        raise ApiError("not_found", f"Product {product_id!r} has no image {query.image}.")
    try:
        stat_key = _stat_key(path)
        body = _thumbnail(path, stat_key, size)
    except (OSError, ImageError):
        raise ApiError("not_found", f"The image of product {product_id!r} is not available.") from None
    response = Response(body, mimetype="image/jpeg")
    response.set_etag(hashlib.sha1(f"{path}|{stat_key}|{size}".encode()).hexdigest())
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
