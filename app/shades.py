"""Shade advice: skin tone with foundation matches, and "find this lipstick" from any photo."""

from __future__ import annotations

import numpy as np
from flask import Blueprint, jsonify

import app.api_responses as out
from app.api_requests import PhotoForm, ShadeMatchQuery
from app.api_spec import LOADING, UPLOAD_ERRORS, ApiResponses, api
from app.resources import resources
from app.search import product_json
from app.tryon import NO_STORE
from app.uploads import form_photo, uploaded_image
from vision.color import lab_to_rgb, to_hex
from vision.looks import ProductType
from vision.shades import ShadeCandidate, lip_color, rank_shades, skin_tone

bp = Blueprint("shades", __name__, url_prefix="/api/v1")
BASE_TYPES = (ProductType.FOUNDATION, ProductType.CONCEALER)


@bp.post("/face/analyze")
@api.validate(resp=ApiResponses(out.FaceAnalysis, *UPLOAD_ERRORS, "no_face", "rate_limited", *LOADING),
              tags=["shades"], operation_id="analyzeFace")
def analyze_face(form: PhotoForm):
    """Skin tone and foundation shades

    For every face: skin tone (CIELAB, ITA, Monk step, undertone, confidence) and the closest foundation
    and concealer shades of the catalog. A face must be visible (422 no_face).
    """
    state = resources()
    image = uploaded_image(form_photo(form), state.settings.image_limits())
    pixels = np.asarray(image)
    faces = state.landmarker.detect(image)
    candidates = _catalog_shades(BASE_TYPES)
    body = []
    for face in faces:
        tone = skin_tone(pixels, face)
        matches = rank_shades(tone.lab, list(candidates), prefer_undertone=tone.undertone, limit=3)
        body.append({"box": face.box.as_list(), "skin": tone.as_json(),
                     "recommendations": [_with_distance(candidates[m.candidate], m.delta_e) for m in matches]})
    return jsonify({"faces": body}), 200, NO_STORE


@bp.post("/shades/match")
@api.validate(resp=ApiResponses(out.LipstickMatches, *UPLOAD_ERRORS, "no_face", "rate_limited", *LOADING),
              tags=["shades"], operation_id="matchLipstick")
def match_lipstick(query: ShadeMatchQuery, form: PhotoForm):
    """Find this lipstick

    The lip colour of the largest face in any photo and the closest catalog lipsticks, closest first.
    A face must be visible (422 no_face).
    """
    state = resources()
    image = uploaded_image(form_photo(form), state.settings.image_limits())
    face = state.landmarker.detect(image)[0]
    lab = lip_color(np.asarray(image), face)
    candidates = _catalog_shades((ProductType.LIPSTICK,))
    matches = rank_shades(lab, list(candidates), limit=query.k)
    return jsonify({"lip_color": to_hex(lab_to_rgb(lab)), "lab": [round(float(v), 2) for v in lab],
                    "matches": [_with_distance(candidates[m.candidate], m.delta_e) for m in matches]}), 200, NO_STORE


def _catalog_shades(types) -> dict[ShadeCandidate, object]:
    """Catalog products of ``types`` that carry a shade, keyed by their shade candidate."""
    products = resources().store.live.products.rows_with_shades(kind.value for kind in types)
    return {ShadeCandidate(p.id, p.shade_hex): p for p in products}


def _with_distance(product, delta_e: float) -> dict:
    return dict(product_json(product), delta_e=round(delta_e, 2))
