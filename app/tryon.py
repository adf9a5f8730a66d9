"""Virtual try-on: the shop's makeup on the shopper's own face, and landmarks for live rendering.

Selfies are private: the upload is decoded in memory, rendered, returned, and dropped. Nothing is
written, logged or cached (``Cache-Control: no-store`` tells browsers and proxies the same).
"""

from __future__ import annotations

import io

import numpy as np
from flask import Blueprint, Response, jsonify
from PIL import Image

import app.api_responses as out
from app.api_requests import PhotoForm, TryOnForm, TryOnQuery
from app.api_spec import LOADING, UPLOAD_ERRORS, ApiResponses, api
from app.look_params import look_layers
from app.metrics import metrics
from app.resources import resources
from app.search import product_json
from app.uploads import form_photo, uploaded_image
from vision.face import Face
from vision.looks import ProductType
from vision.makeup import render_look
from vision.regions import index_sets

bp = Blueprint("tryon", __name__, url_prefix="/api/v1")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}
JPEG_QUALITY = 90


@bp.post("/tryon")
@api.validate(resp=ApiResponses("The photo with the look applied, same size as the upload (never stored)",
                                *UPLOAD_ERRORS, "unknown_product", "no_face", "rate_limited", *LOADING,
                                media="image/jpeg"), tags=["try-on"], operation_id="tryOn")
def try_on(query: TryOnQuery, form: TryOnForm):
    """Makeup on the shopper's own photo

    Multipart ``image`` and ``looks``; the result is a JPEG with an ``X-Faces`` header (faces made up) and
    ``X-Face-Boxes`` (``x,y,w,h`` of each, in pixels of the returned picture, ``;``-separated, largest first), so
    a client can open the view on the face rather than on a full-length photo where it is a few pixels wide.
    A face must be visible (422 no_face); a product look must name a catalog product with a shade
    (404 unknown_product, 400 invalid_parameter); at most SHOPLENS_MAX_LOOKS looks. ``faces`` may come in
    the form or the query string.
    """
    state = resources()
    image = form_photo(form)
    looks = look_layers(form.looks, _product_lookup, state.settings.max_looks)
    which = form.faces or query.faces or "all"
    stages = metrics().tryon_stage
    with stages.labels("decode").time():
        pixels = np.array(uploaded_image(image, state.settings.image_limits()))  # one writable copy
    with stages.labels("landmarks").time():
        faces = state.landmarker.detect(pixels)
    if which == "largest":
        faces = faces[:1]
    with stages.labels("render").time():
        render_look(pixels, faces, [layer for layer, _ in looks], in_place=True)
    with stages.labels("encode").time():
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=JPEG_QUALITY)
    response = Response(buffer.getvalue(), mimetype="image/jpeg", headers=NO_STORE)
    response.headers["X-Faces"] = str(len(faces))
    response.headers["X-Face-Boxes"] = ";".join(",".join(map(str, face.box.as_list())) for face in faces)
    return response


@bp.post("/face/landmarks")
@api.validate(resp=ApiResponses(out.FaceLandmarks, *UPLOAD_ERRORS, "no_face", "rate_limited", *LOADING),
              tags=["try-on"], operation_id="faceLandmarks")
def face_landmarks(form: PhotoForm):
    """Face regions for live rendering in the app

    Each face's box and named region polygons (lips, eyes, cheeks...) in pixels of the upright photo.
    A face must be visible (422 no_face).
    """
    state = resources()
    image = uploaded_image(form_photo(form), state.settings.image_limits())
    faces = state.landmarker.detect(image)
    body = {"width": image.width, "height": image.height, "faces": [face_json(face) for face in faces]}
    return jsonify(body), 200, NO_STORE


@bp.get("/tryon/products")
@api.validate(resp=ApiResponses(out.MakeupShades, *LOADING), tags=["try-on"], operation_id="makeupShades")
def makeup_products():
    """The catalog's makeup shades

    Every product that can be tried on (a makeup type and a shade), grouped by product type. A line sold in
    shades (variants of one group, a lipstick in 20 shades) is one entry, its first shade, with every shade
    in ``shades``, so a shopper swipes through the shades of the line they picked.
    """
    live = resources().store.live
    types: dict[str, list[dict]] = {}
    lines: dict[tuple[str, str], dict] = {}
    for product in live.products.rows_with_shades(kind.value for kind in ProductType):
        shown = product_json(product)
        kind = product.product_type.value
        if not product.group:
            types.setdefault(kind, []).append(dict(shown, shades=[]))
        elif (kind, product.group) in lines:
            lines[kind, product.group]["shades"].append(shown)
        else:
            lines[kind, product.group] = dict(shown, shades=[shown])
            types.setdefault(kind, []).append(lines[kind, product.group])
    return jsonify({"groups": types})


def face_json(face: Face) -> dict:
    regions = {name: np.round(face.landmarks[list(indices)], 1).tolist() for name, indices in index_sets().items()}
    return {"box": face.box.as_list(), "regions": regions}


def _product_lookup(product_id: str):
    """:raise UnknownProduct: (404 unknown_product)."""
    return resources().store.get(product_id)
