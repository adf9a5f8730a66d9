"""Search endpoints: by photo, by text, by both; product lookup and "more like this"."""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from typing import Callable

import numpy as np
from flask import Blueprint, jsonify, request, url_for
from PIL import Image

import app.api_responses as out
from app.api_requests import (
    PhotoSearchForm,
    ResultOptions,
    SearchOptions,
    SearchQuery,
    TextSearch,
    merged_search_options,
)
from app.api_spec import LOADING, UPLOAD_ERRORS, ApiResponses, api
from app.errors import ApiError
from app.linked_images import fetch_linked_image
from app.metrics import metrics
from app.resources import resources
from app.shop_the_look import shop_the_look
from app.uploads import crop_photo, form_photo, uploaded_bytes
from indexer.records import Product
from indexer.stores.index_store import SearchHit
from vision.batching import ClientGone, Overloaded
from vision.images import load_image

bp = Blueprint("search", __name__, url_prefix="/api/v1")
SEARCH_ERRORS = (*UPLOAD_ERRORS, "missing_query", "rate_limited", *LOADING)
LINK_ERRORS = ("image_url_refused", "image_url_unreachable", "image_url_not_an_image")


@bp.post("/search")
@api.validate(resp=ApiResponses(out.SearchResults, *SEARCH_ERRORS, *LINK_ERRORS), tags=["search"],
              operation_id="searchByPhoto")
def search_by_image(query: SearchOptions, form: PhotoSearchForm):
    """Products that look like a photo

    Multipart ``image``, or ``image_url`` (a picture's link, or a page's whose og:image / twitter:image names
    it), optionally mixed with text (``q``, weighted by ``text_weight``) and cut to ``crop``. The other fields
    may be sent in the query string or in the form (not both). The photo must decode (400 invalid_image,
    415 unsupported_media_type), fit the byte and pixel limits (413) and have no side under
    SHOPLENS_MIN_IMAGE_SIDE (422 image_too_small); a crop must keep at least 8x8 pixels inside it. A link
    is fetched only from public addresses (400 image_url_refused), must answer within SHOPLENS_LINK_TIMEOUT
    (422 image_url_unreachable) with a picture or a page naming one (422 image_url_not_an_image), and has
    its own rate limit (SHOPLENS_LINK_RATE_LIMIT) on top of the search budget.

    ``detect=true`` (shop the look) also finds the items in the photo: ``items`` lists each one's box in the
    upright photo's pixels, its score and its own k results under the same filters. It is an option of this
    operation rather than one of its own because the whole photo is embedded either way (in the same batch
    as the items) and a client asking for items also shows the photo's results.
    """
    options = merged_search_options(query, form)
    upload = form.image if form is not None else None
    if options.image_url and upload is not None:
        raise ApiError("invalid_parameter", "Send a photo or an image_url, not both.")
    if options.image_url:
        image = fetch_linked_image(options.image_url.strip(), resources().settings.link_fetch_config())
    else:
        image = uploaded_bytes(form_photo(form))
    return _run(SearchQuery(image=image, text=options.text, text_weight=options.text_weight,
                            k=options.k, filters=options.search_filters(), crop=options.crop_box,
                            detect=bool(options.detect), collapse=options.collapse_variants))


@bp.get("/search")
@api.validate(resp=ApiResponses(out.SearchResults, "missing_query", "invalid_parameter", "rate_limited", *LOADING),
              tags=["search"], operation_id="searchByText")
def search_by_text(query: TextSearch):
    """Products matching a text query

    ``q`` in any language CLIP reads ("red satin dress"), with the same filters as photo search.
    """
    text = query.q.strip()
    return _run(SearchQuery(image=None, text=text, text_weight=1.0, k=query.k, filters=query.search_filters(),
                            crop=None, collapse=query.collapse_variants))


@bp.get("/products/<path:product_id>")
@api.validate(resp=ApiResponses(out.ProductDetail, "unknown_product", *LOADING), tags=["products"],
              operation_id="getProduct")
def get_product(product_id: str):
    """One product

    With ``image_urls``: every photo of it, its main image first; and ``variants``: the other variants of its
    group (colours, sizes, shades), each with its own price, stock and image.
    """
    store = resources().store
    product = product_json(store.get(product_id))
    extra = [url_for("catalog.product_image", product_id=product_id, image=number)
             for number in range(1, store.image_count(product_id))]
    variants = [variant_json(other) for other in store.variants(product_id) if other.id != product_id]
    return jsonify(dict(product, image_urls=[product["image_url"], *extra], variants=variants))


@bp.get("/products/<path:product_id>/similar")
@api.validate(resp=ApiResponses(out.SearchResults, "unknown_product", "invalid_parameter", "rate_limited", *LOADING),
              tags=["products"], operation_id="similarProducts")
def similar_products(product_id: str, query: ResultOptions):
    """More like this

    The products that look most like this one (never the product itself, nor its own variants when collapsed),
    with the usual filters.
    """
    started = time.perf_counter()
    hits = resources().store.similar(product_id, query.k, query.search_filters(), query.collapse_variants)
    return _results(hits, started)


def _run(query: SearchQuery):
    return jsonify(search_results(query))


def search_results(query: SearchQuery) -> dict:
    """The search's answer as the API sends it.  :raise ApiError:"""
    started = time.perf_counter()
    if query.detect and query.image is not None:
        return _look_body(query, started)
    vector = query_vector(query)
    return _results_body(resources().store.search(vector, query.k, query.filters, query.collapse), started)


def _look_body(query: SearchQuery, started: float) -> dict:
    text_vector = query_vector(replace(query, image=None, crop=None)) if query.text is not None else None
    look = shop_the_look(query, lambda vector: mixed(vector, text_vector, query.text_weight), client_waiting())
    items = [{"box": item.box.as_list(), "score": round(item.score, 6),
              "results": [scored_json(hit) for hit in item.hits]} for item in look.items]
    return dict(_results_body(look.hits, started), items=items)


def query_vector(query: SearchQuery) -> np.ndarray:
    """The normalised query: image, text, or their weighted sum ("like this, but green").

    Both go through the worker's micro-batcher, which runs concurrent queries in one forward pass.
    :raise ApiError: overloaded when the model is too busy to answer in time.
    """
    state = resources()
    encoder = state.queries
    still_wanted = client_waiting()
    image_vector = text_vector = None
    try:
        if query.image is not None:
            def decoded() -> Image.Image:  # decoded inside the batcher, which then knows this query is coming
                with metrics().decode.time():
                    image = load_image(query.image, state.settings.image_limits(),
                                       max_side=None if query.crop else state.embedder.image_size)
                return crop_photo(image, query.crop) if query.crop else image

            image_vector = encoder.encode_photo(decoded, still_wanted)
        if query.text is not None:
            text_vector = encoder.encode_text(query.text, still_wanted)
    except (Overloaded, ClientGone) as exc:  # a gone client never reads this answer
        raise ApiError("overloaded", str(exc), {"Retry-After": "2"}) from None
    if image_vector is None:
        return text_vector
    return mixed(image_vector, text_vector, query.text_weight)


def mixed(image_vector: np.ndarray, text_vector: np.ndarray | None, text_weight: float) -> np.ndarray:
    """"Like this, but green": the weighted sum of the two, normalised; the image alone without text."""
    if text_vector is None:
        return image_vector
    blend = (1.0 - text_weight) * image_vector + text_weight * text_vector
    norm = float(np.linalg.norm(blend))
    return blend / norm if norm > 1e-6 else image_vector


def client_waiting() -> Callable[[], bool]:
    """Whether the client of this request still has its connection open (False once it hung up).

    gunicorn hands the socket to the app; a peek that reads an orderly close (b"") means nobody will read
    the answer. Other servers (tests, ``--dev``) give no socket: the client counts as waiting.
    """
    sock = request.environ.get("gunicorn.socket")
    if sock is None:
        return lambda: True

    def waiting() -> bool:
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False

    return waiting


def _results(hits: list[SearchHit], started: float):
    return jsonify(_results_body(hits, started))


def _results_body(hits: list[SearchHit], started: float) -> dict:
    return {
        "results": [scored_json(hit) for hit in hits],
        "version": resources().store.live.name,
        "took_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def scored_json(hit: SearchHit) -> dict:
    """A search hit as the API sends it: the product, its score, the photo that matched, its other variants."""
    product = product_json(hit.product)
    return dict(product, score=round(hit.score, 6), matched_image_url=matched_image_url(hit, product["image_url"]),
                variants=[variant_json(variant) for variant in hit.variants])


def matched_image_url(hit: SearchHit, main_image_url: str) -> str:
    """The product photo that matched the query best: the one a results page should show."""
    if hit.image == 0:
        return main_image_url
    return url_for("catalog.product_image", product_id=hit.product.id, image=hit.image)


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
        "group": product.group or None,
        "options": dict(product.options),
    }


def variant_json(product: Product) -> dict:
    """What a result lists of its group's other variants: enough to show a swatch and switch to it."""
    return {
        "id": product.id,
        "options": dict(product.options),
        "price": product.price,
        "currency": product.currency or None,
        "in_stock": product.in_stock,
        "shade_hex": product.shade_hex or None,
        "url": product.url or None,
        "image_url": url_for("catalog.product_image", product_id=product.id),
    }
