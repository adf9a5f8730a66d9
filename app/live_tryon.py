"""Live try-on on the shopper's device: what the in-browser renderer needs, and the Face Mesh files it runs on.

In live mode the camera frames never leave the phone: MediaPipe Face Mesh (the ``@mediapipe/face_mesh`` npm
package, installed by ``make install`` and served from here, never from a CDN) finds the landmarks in the
browser and WebGL2 draws the makeup. The server only hands out the landmark index sets, zone shapes and
colour recipes of ``vision/`` so both renderers draw the same makeup from one definition.
"""

from __future__ import annotations

import json
import mimetypes
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, jsonify, send_from_directory

import app.api_responses as out
from app.api_spec import ApiResponses, api
from app.errors import ApiError
from app.resources import resources
from vision.looks import STACKING, ProductType
from vision.makeup import RECIPES
from vision.masks import CHEEK, EYE_GUARD, LID_BANDS, LIP_FEATHER, MOUTH_GUARD, WING_LIFT, WING_TAPER
from vision.regions import CHEEK_CENTRE, MOUTH_CORNERS, OUTER_EYE_CORNER, index_sets

bp = Blueprint("live_tryon", __name__)
PACKAGE = "@mediapipe/face_mesh"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The live renderer draws these; the other types show in Photo mode (the server renderer).
LIVE_TYPES = (ProductType.BLUSH, ProductType.EYESHADOW, ProductType.EYELINER, ProductType.LIPSTICK)
YEAR = 365 * 24 * 3600
MEDIA_TYPES = {".wasm": "application/wasm", ".js": "text/javascript", ".data": "application/octet-stream",
               ".binarypb": "application/octet-stream"}


@bp.get("/api/v1/tryon/live")
@api.validate(resp=ApiResponses(out.LiveTryOnConfig), tags=["try-on"], operation_id="liveTryOnConfig")
def live_config():
    """What the page's live (camera) try-on needs

    Where the Face Mesh browser files are, the landmark index sets of each face region, and the zone shapes
    and colour recipes of the server's renderer, so the live view and ``/api/v1/tryon`` draw the same makeup.
    """
    package = face_mesh_package(resources().settings.face_mesh_dir)
    body = {
        "face_mesh": {"available": package is not None, "version": package.version if package else None,
                      "base_url": f"/vendor/face_mesh/{package.version}/" if package else None},
        "landmarks": 478,
        "regions": {name: list(indices) for name, indices in index_sets().items()},
        "anchors": {"cheek_centre": CHEEK_CENTRE, "outer_eye_corner": OUTER_EYE_CORNER,
                    "mouth_corners": list(MOUTH_CORNERS)},
        "zones": {"lip_feather": LIP_FEATHER, "lid_bands": {kind.value: band for kind, band in LID_BANDS.items()},
                  "wing_taper": WING_TAPER, "wing_lift": WING_LIFT, "cheek": CHEEK,
                  "guards": {"mouth": MOUTH_GUARD, "eyes": EYE_GUARD}},
        "recipes": {kind.value: {"coverage": recipe.coverage, "lightness": recipe.lightness,
                                 "chroma_texture": recipe.chroma_texture} for kind, recipe in RECIPES.items()},
        "stacking": [kind.value for kind in STACKING],
        "live_types": [kind.value for kind in LIVE_TYPES],
    }
    response = jsonify(body)
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response


@bp.get("/vendor/face_mesh/<version>/<path:name>")
@api.validate(resp=ApiResponses("A file of the Face Mesh browser package (JavaScript, WebAssembly or model data)",
                                "not_found", media="application/octet-stream"),
              tags=["pages"], operation_id="faceMeshFile")
def face_mesh_file(version: str, name: str):
    """The Face Mesh browser package, served by this server (no CDN)

    The version is part of the address, so the files are cached for a year and never revalidated.
    """
    package = face_mesh_package(resources().settings.face_mesh_dir)
    if package is None:
        raise ApiError("not_found", f"The {PACKAGE} browser package is not installed here: run `make install` "
                                    "or set SHOPLENS_FACE_MESH_DIR.")
    if version != package.version or name not in package.files:
        raise ApiError("not_found", f"No file {name} in {PACKAGE} {version}; this server has {package.version}.")
    suffix = Path(name).suffix
    response: Response = send_from_directory(package.folder, name,
                                             mimetype=MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name)[0])
    response.cache_control.public = True
    response.cache_control.max_age = YEAR
    response.cache_control.immutable = True
    return response


class FaceMeshPackage:
    """An installed copy of the npm package: its folder, version and the files it may serve."""

    def __init__(self, folder: Path, version: str):
        self.folder = folder
        self.version = version
        self.files = frozenset(path.name for path in folder.iterdir()
                               if path.is_file() and path.suffix in MEDIA_TYPES)


@lru_cache(maxsize=4)
def face_mesh_package(configured: str) -> FaceMeshPackage | None:
    folder = Path(configured) if configured else PROJECT_ROOT / "node_modules" / PACKAGE
    try:
        version = json.loads((folder / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    return FaceMeshPackage(folder, str(version))
