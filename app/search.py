"""Search endpoints: by photo, by text, by both; product lookup and "more like this"."""

from __future__ import annotations

import time

import numpy as np
from flask import Blueprint, jsonify, request, url_for

from app.errors import ApiError
from app.params import Crop, SearchQuery, parse_filters, parse_k, parse_search
from app.resources import resources
from indexer.records import Product
from indexer.stores.index_store import SearchHit
from vision.images import load_image

bp = Blueprint("search", __name__, url_prefix="/api/v1")


@bp.post("/search")
def search_by_image():
    """Multipart ``image`` (plus optional ``q`` to mix in text).  :raise 4xx: see app.errors."""
    query = parse_search(request.values, request.files, require_image=True)
    return _run(query)


@bp.get("/search")
def search_by_text():
    """``q`` text query.  :raise 400: missing_query."""
    query = parse_search(request.args, None, require_image=False)
    return _run(query)


@bp.get("/products/<path:product_id>")
def get_product(product_id: str):
    """:raise 404: unknown_product."""
    return jsonify(product_json(resources().store.get(product_id)))


@bp.get("/products/<path:product_id>/similar")
def similar_products(product_id: str):
    """:raise 404: unknown_product."""
    started = time.perf_counter()
    hits = resources().store.similar(product_id, parse_k(request.args.get("k")), parse_filters(request.args))
    return _results(hits, started)


def _run(query: SearchQuery):
    started = time.perf_counter()
    vector = query_vector(query)
    return _results(resources().store.search(vector, query.k, query.filters), started)


def query_vector(query: SearchQuery) -> np.ndarray:
    """The normalised query: image, text, or their weighted sum ("like this, but green")."""
    embedder = resources().embedder
    image_vector = text_vector = None
    if query.image is not None:
        limits = resources().settings.image_limits()
        image = load_image(query.image, limits, max_side=None if query.crop else embedder.image_size)
        if query.crop:
            image = _crop(image, query.crop)
        image_vector = embedder.encode_images([image])[0]
    if query.text is not None:
        text_vector = embedder.encode_texts([query.text])[0]
    if image_vector is None:
        return text_vector
    if text_vector is None:
        return image_vector
    mixed = (1.0 - query.text_weight) * image_vector + query.text_weight * text_vector
    norm = float(np.linalg.norm(mixed))
    return mixed / norm if norm > 1e-6 else image_vector


def _crop(image, crop: Crop):
    """:raise ApiError: when the box lies outside the photo."""
    if crop.x >= image.width or crop.y >= image.height:
        raise ApiError("invalid_parameter", f"crop starts outside the {image.width}x{image.height} image.")
    box = (crop.x, crop.y, min(crop.x + crop.width, image.width), min(crop.y + crop.height, image.height))
    if box[2] - box[0] < 8 or box[3] - box[1] < 8:
        raise ApiError("invalid_parameter", "crop is smaller than 8x8 pixels inside the image.")
    return image.crop(box)


def _results(hits: list[SearchHit], started: float):
    return jsonify({
        "results": [dict(product_json(hit.product), score=round(hit.score, 6)) for hit in hits],
        "version": resources().store.live.name,
        "took_ms": round((time.perf_counter() - started) * 1000, 2),
    })


def product_json(product: Product) -> dict:
    """What clients see of a product: never the image's path on disk."""
    return {
        "id": product.id,
        "title": product.title,
        "price": product.price,
        "currency": product.currency or None,
        "url": product.url or None,
        "category": product.category or None,
        "brand": product.brand or None,
        "in_stock": product.in_stock,
        "product_type": product.product_type.value if product.product_type else None,
        "shade_hex": product.shade_hex or None,
        "finish": product.finish.value if product.finish else None,
        "image_url": url_for("catalog.product_image", product_id=product.id),
    }
