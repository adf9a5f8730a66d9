"""Virtual try-on: the shop's makeup on the shopper's own face, and landmarks for live rendering.

Selfies are private: the upload is decoded in memory, rendered, returned, and dropped. Nothing is
written, logged or cached (``Cache-Control: no-store`` tells browsers and proxies the same).
"""

from __future__ import annotations

import io

import numpy as np
from flask import Blueprint, Response, jsonify, request
from PIL import Image

from app.errors import ApiError
from app.look_params import parse_looks
from app.resources import resources
from app.search import product_json
from app.uploads import uploaded_image
from vision.face import Face
from vision.makeup import render_look
from vision.regions import index_sets

bp = Blueprint("tryon", __name__, url_prefix="/api/v1")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}
JPEG_QUALITY = 90


@bp.post("/tryon")
def try_on():
    """Multipart ``image`` + ``looks`` JSON -> the made-up photo as JPEG, same size as the upload.

    :raise 422: no_face.  :raise 404: unknown_product.  :raise 400: invalid_parameter.
    """
    state = resources()
    looks = parse_looks(request.form.get("looks"), _product_lookup, state.settings.max_looks)
    which = request.form.get("faces", request.args.get("faces", "all"))
    if which not in ("all", "largest"):
        raise ApiError("invalid_parameter", "faces must be 'all' or 'largest'.")
    pixels = np.array(uploaded_image(request.files, state.settings.image_limits()))  # one writable copy
    faces = state.landmarker.detect(pixels)
    if which == "largest":
        faces = faces[:1]
    render_look(pixels, faces, [layer for layer, _ in looks], in_place=True)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=JPEG_QUALITY)
    response = Response(buffer.getvalue(), mimetype="image/jpeg", headers=NO_STORE)
    response.headers["X-Faces"] = str(len(faces))
    return response


@bp.post("/face/landmarks")
def face_landmarks():
    """Faces with their box and named region polygons (pixels of the upright photo).  :raise 422: no_face."""
    state = resources()
    image = uploaded_image(request.files, state.settings.image_limits())
    faces = state.landmarker.detect(image)
    body = {"width": image.width, "height": image.height, "faces": [face_json(face) for face in faces]}
    return jsonify(body), 200, NO_STORE


@bp.get("/tryon/products")
def makeup_products():
    """The catalog's makeup shades that can be tried on, grouped by product type."""
    live = resources().store.live
    groups: dict[str, list[dict]] = {}
    for product in live.products:
        if product.product_type and product.shade_hex:
            groups.setdefault(product.product_type.value, []).append(product_json(product))
    return jsonify({"groups": groups})


def face_json(face: Face) -> dict:
    regions = {name: np.round(face.landmarks[list(indices)], 1).tolist() for name, indices in index_sets().items()}
    return {"box": face.box.as_list(), "regions": regions}


def _product_lookup(product_id: str):
    """:raise UnknownProduct: (404 unknown_product)."""
    return resources().store.get(product_id)
