"""``POST /api/v1/recommend``: "for you" from the session the shopper's browser keeps and sends, no tracking."""

from __future__ import annotations

import time

from flask import Blueprint, jsonify

import app.api_responses as out
from app.api_requests import RecommendBody, SearchQuery
from app.api_spec import LOADING, ApiResponses, api
from app.errors import ApiError
from app.resources import resources
from app.search import query_vector, scored_json
from indexer.stores.recommend import Session

bp = Blueprint("recommend", __name__, url_prefix="/api/v1")


@bp.post("/recommend")
@api.validate(resp=ApiResponses(out.Recommendations, "invalid_parameter", "unknown_product", "rate_limited",
                                "overloaded", *LOADING), tags=["search"], operation_id="recommend")
def recommend(json: RecommendBody):
    """Products for a shopper's session ("For you")

    JSON body: ``positive`` ids (viewed, tapped, tried on, in the basket; a list, or ``{"id": weight}``),
    optional ``negative`` ids ("not for me"), optional text ``q`` mixed in with ``text_weight`` as in mixed
    search, ``k``, ``diversity`` and the usual filters. Answers products close to the positives and away from
    the negatives, never the session's own products, from the stored vectors (no image is embedded again).
    Nothing of the session is stored or logged. 404 unknown_product when an id is not in the catalog, unless
    ``skip_unknown``; 400 invalid_parameter for too many ids (50 a list), an id listed twice or in both lists,
    and weights outside (0, 1000].
    """
    started = time.perf_counter()
    if json is None:
        raise ApiError("invalid_parameter", 'Send a JSON body {"positive": ["product id", ...]} with Content-Type '
                                            "application/json.")
    state = resources()
    text_vector = None
    if json.text is not None:
        text_vector = query_vector(SearchQuery(image=None, text=json.text, text_weight=1.0, k=json.k,
                                               filters=json.search_filters(), crop=None))
    session = Session(positive=json.positive, negative=json.negative, text_vector=text_vector,
                      text_weight=json.text_weight, diversity=json.diversity)
    found = state.store.recommend(session, json.k, json.search_filters())
    if found.unknown and not json.skip_unknown:
        listed = ", ".join(repr(product_id) for product_id in found.unknown[:5])
        more = f" and {len(found.unknown) - 5} more" if len(found.unknown) > 5 else ""
        raise ApiError("unknown_product", f"No product with id {listed}{more} in the catalog (it may have been "
                                          "removed); drop it from the session, or send skip_unknown: true.")
    response = jsonify({
        "results": [dict(scored_json(hit), because=hit.because) for hit in found.hits],
        "unknown": found.unknown,
        "version": state.store.live.name,
        "took_ms": round((time.perf_counter() - started) * 1000, 2),
    })
    response.headers["Cache-Control"] = "no-store"  # drawn from one shopper's history: no shared cache keeps it
    return response
