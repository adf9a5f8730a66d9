"""The shopper page as an installable web app: its manifest (with the share target), icons and service worker.

A share from the phone's gallery or another app arrives as a multipart POST navigation to ``/share``
(W3C Web Share Target, https://w3c.github.io/web-share-target/): the answer is the page itself, with the
search already run and its results (or its error) written into the page, never JSON. The shared photo is
used for that answer only: searched, sent back as a small preview for the crop box, never stored.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
from functools import lru_cache
from importlib import resources as package_files

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from app.api_requests import DEFAULT_K, SearchQuery
from app.api_spec import ApiResponses, api
from app.app_icons import SIZES, icon_png
from app.errors import STATUS, ApiError
from app.linked_images import fetch_linked_image
from app.resources import resources
from app.search import search_results
from app.security import SHOPPER_PAGE_CONTENT_SECURITY_POLICY
from app.uploads import uploaded_bytes
from indexer.stores.filters import SearchFilters
from vision.images import ImageError, load_image

log = logging.getLogger(__name__)
bp = Blueprint("webapp", __name__)
share_bp = Blueprint("share", __name__)  # its own error handler: a share always answers a page

THEME_COLOUR = "#8e2453"
BACKGROUND_COLOUR = "#fbf9fc"
LANGUAGES = ("en", "fr")  # static/messages/<language>.json, one catalog each; English is the fallback
SHARED_SCRIPTS = ("i18n-core", "face-frame")  # static/shared/<name>.js: for our pages and the embed script alike
SHELL_FILES = ("index.html", "style.css", *(f"shared/{name}.js" for name in SHARED_SCRIPTS), "i18n.js", "app.js",
               "foryou.js", "webapp.js", "tryon.js", "live-render.js", "live.js", "favicon.svg",
               *(f"messages/{language}.json" for language in LANGUAGES))
PREVIEW_SIDE = 1280  # the preview sent back for the crop box; crops are then made on it
LINK = re.compile(r"https?://\S+", re.IGNORECASE)
SHARED_PLACEHOLDER = re.compile(r"/\*shared:([a-z0-9-]+)\*/")
SHARE_ERRORS = ("missing_image", "empty_image", "invalid_image", "image_too_large", "payload_too_large",
                "unsupported_media_type", "image_too_small", "invalid_parameter", "image_url_refused",
                "image_url_unreachable", "image_url_not_an_image", "rate_limited", "index_not_ready", "overloaded")


@bp.get("/manifest.webmanifest")
@api.validate(resp=ApiResponses("The Web App Manifest (application/manifest+json)", media="application/manifest+json"),
              tags=["pages"], operation_id="webAppManifest")
def manifest():
    """Web App Manifest: installable page, share target for photos and links"""
    icons = [{"src": f"/icons/{kind}-{size}.png", "sizes": f"{size}x{size}", "type": "image/png",
              "purpose": "maskable" if kind == "maskable" else "any"}
             for kind in ("icon", "maskable") for size in SIZES if size != 180]
    body = {
        "id": "/", "name": "shoplens — find it, try it", "short_name": "shoplens",
        "description": "Search the shop with a photo, a link or words, and try makeup on.",
        "start_url": "/", "scope": "/", "display": "standalone",
        "background_color": BACKGROUND_COLOUR, "theme_color": THEME_COLOUR, "icons": icons,
        "share_target": {"action": "/share", "method": "POST", "enctype": "multipart/form-data",
                         "params": {"title": "title", "text": "text", "url": "url",
                                    "files": [{"name": "image", "accept": ["image/*"]}]}},
    }
    response = Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")
    response.cache_control.no_cache = True
    return response


@bp.get("/icons/<name>.png")
@api.validate(resp=ApiResponses("PNG icon", "not_found", media="image/png"), tags=["pages"],
              operation_id="appIcon")
def app_icon(name: str):
    """A home-screen icon (icon-192, icon-512, maskable-192, maskable-512, icon-180 for iOS)"""
    kind, _, size = name.partition("-")
    if kind not in ("icon", "maskable") or not size.isdigit() or int(size) not in SIZES:
        raise ApiError("not_found", f"No icon {name}.png; sizes: {', '.join(map(str, SIZES))}.")
    response = Response(icon_png(int(size), kind == "maskable"), mimetype="image/png")
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response


@bp.get("/sw.js")
@api.validate(resp=ApiResponses("The service worker (JavaScript)", media="text/javascript"), tags=["pages"],
              operation_id="serviceWorker")
def service_worker():
    """Service worker: the page shell offline; uploads, shares and API answers are never cached"""
    source = _static_text("sw.js").replace("__SHELL_VERSION__", shell_version())
    response = Response(source, mimetype="text/javascript")
    response.cache_control.no_cache = True  # browsers check it for updates on every visit
    return response


@bp.get("/i18n/messages.js")
@api.validate(resp=ApiResponses("The message catalogs (JavaScript)", media="text/javascript"), tags=["pages"],
              operation_id="messageCatalogs")
def message_catalogs():
    """The page's words in every language it speaks, as one script (no extra round trip per language)"""
    return _cached_script(*messages_script())


@bp.get("/embed/shoplens.js")
@api.validate(resp=ApiResponses("The storefront components (JavaScript)", media="text/javascript"), tags=["pages"],
              operation_id="storefrontComponents")
def storefront_components():
    """Custom elements for a shop's own pages (<shoplens-search>, <shoplens-similar>, <shoplens-tryon>)

    The message catalogs are built in. Load it with ``<script src="https://SHOPLENS/embed/shoplens.js" defer>``;
    its requests go back to this server without cookies, so the shop's origin must be in SHOPLENS_CORS_ORIGINS.
    """
    return _cached_script(*embed_script())


def _cached_script(source: str, version: str) -> Response:
    """A generated script, cached an hour and revalidated by its content hash (304 when unchanged)."""
    response = Response(source, mimetype="text/javascript")
    response.set_etag(version)
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response.make_conditional(request)


@lru_cache(maxsize=1)
def messages_script() -> tuple[str, str]:
    """``window.SHOPLENS_MESSAGES = {language: {key: text}}`` from the catalogs, and its content hash."""
    return _versioned(f"window.SHOPLENS_MESSAGES = {_catalogs_json()};\n")


@lru_cache(maxsize=1)
def embed_script() -> tuple[str, str]:
    source = SHARED_PLACEHOLDER.sub(lambda match: _shared_source(match.group(1)), _static_text("embed/shoplens.js"))
    return _versioned(source.replace("__SHOPLENS_MESSAGES__", _catalogs_json()))


@bp.get("/common/<name>.js")
@api.validate(resp=ApiResponses("A script shared by the page and the storefront components", "not_found",
                                media="text/javascript"), tags=["pages"], operation_id="sharedScript")
def shared_script(name: str):
    """One piece of script our pages share with /embed/shoplens.js, as ``window.shoplensShared[name]``"""
    if name not in SHARED_SCRIPTS:
        raise ApiError("not_found", f"No shared script {name}.js; there are: {', '.join(SHARED_SCRIPTS)}.")
    return _cached_script(*_shared_page_script(name))


@lru_cache(maxsize=None)
def _shared_page_script(name: str) -> tuple[str, str]:
    return _versioned("window.shoplensShared = window.shoplensShared || {};\n"
                      f"window.shoplensShared[{json.dumps(name)}] = {_shared_source(name)};\n")


def _shared_source(name: str) -> str:
    """The expression in static/shared/<name>.js (the embed script writes it in where it says /*shared:NAME*/)."""
    return _static_text(f"shared/{name}.js").strip()


def _catalogs_json() -> str:
    catalogs = {language: json.loads(_static_text(f"messages/{language}.json")) for language in LANGUAGES}
    return json.dumps(catalogs, ensure_ascii=False, sort_keys=True)


def _versioned(source: str) -> tuple[str, str]:
    return source, hashlib.sha256(source.encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def shell_version() -> str:
    """Changes whenever a shell file does, so the worker re-caches the shell."""
    digest = hashlib.sha256()
    for name in SHELL_FILES:
        digest.update(_static_text(name).encode())
    return digest.hexdigest()[:16]


@share_bp.post("/share")
@api.validate(resp=ApiResponses("HTML", *SHARE_ERRORS, media="text/html", errors_as_page=True), tags=["pages"],
              operation_id="shareTarget")
def share_target():
    """Where the installed app receives a shared photo or link

    The share target of /manifest.webmanifest: multipart ``image`` (a photo from the gallery or another app),
    else a link in ``url`` or ``text`` (a product page naming its picture with og:image, or a picture), else
    ``text`` as a text search. Always answers the shopper page (HTML, never JSON) with the results, or the
    error, written in; the same limits and privacy rules as an upload apply (the photo is never stored).
    """
    shared: dict = {"query": None, "preview": None, "results": None, "error": None}
    upload = next((part for part in request.files.getlist("image") if part.filename), None)  # "": no file chosen
    link = next((match.group(0) for field in ("url", "text")
                 if (match := LINK.search(request.form.get(field, "")))), None)
    text = " ".join(request.form.get(field, "").strip() for field in ("title", "text")).strip()[:500] or None
    limits = resources().settings.image_limits()
    photo = None
    if upload is not None:
        photo = uploaded_bytes(upload)
    elif link is not None:
        shared["query"] = link
        photo = fetch_linked_image(link, resources().settings.link_fetch_config())
    elif text is not None:
        shared["query"] = text
    else:
        raise ApiError("missing_image", "Nothing to search was shared: share a photo, a link or some words.")
    if photo is not None:
        shared["preview"] = _preview(load_image(photo, limits))
    shared["results"] = search_results(SearchQuery(image=photo, text=None if photo else text,
                                                   text_weight=0.0 if photo else 1.0, k=DEFAULT_K,
                                                   filters=SearchFilters(), crop=None))
    return _page_with(shared, 200)


@share_bp.errorhandler(Exception)
def share_failed(error: Exception):
    """A share is a navigation: its errors are shown in the page, never as a JSON body."""
    if isinstance(error, ApiError):
        code, message, status = error.code, error.message, error.status
    elif isinstance(error, ImageError):
        code, message, status = error.code, str(error), STATUS[error.code]
    elif isinstance(error, HTTPException) and error.code == 429:
        code, message, status = "rate_limited", "Too many searches from here just now; try again in a minute.", 429
    elif isinstance(error, HTTPException) and error.code == 413:
        code, message, status = "payload_too_large", "That photo is too large to search.", 413
    elif isinstance(error, HTTPException):  # a GET of /share (a bookmark), a malformed form...
        code = "method_not_allowed" if error.code == 405 else "invalid_parameter"
        message, status = "Share a photo or a link to shoplens, or search from this page.", error.code or 400
    else:
        log.exception("Unhandled error in a share")  # never with the request's data
        code, message, status = "internal_error", "Something went wrong on our side; please try again.", 500
    return _page_with({"query": None, "preview": None, "results": None,
                       "error": {"code": code, "message": message}}, status)


def _preview(image) -> str:
    """The upright photo, at most PREVIEW_SIDE a side, as a data URL (img-src allows data:)."""
    image = image.convert("RGB")
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _page_with(shared: dict, status: int) -> Response:
    """The page, with the share's outcome as a JSON data block (not script: the CSP allows none inline)."""
    data = json.dumps(shared).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    block = f'<script type="application/json" id="shared-search">{data}</script>\n</body>'
    page = _static_text("index.html").replace("</body>", block, 1)
    response = Response(page, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"  # it holds the shopper's photo
    response.headers["Content-Security-Policy"] = SHOPPER_PAGE_CONTENT_SECURITY_POLICY
    return response


def _static_text(name: str) -> str:
    folder = current_app.static_folder or str(package_files.files("static"))
    with open(f"{folder}/{name}", encoding="utf-8") as handle:
        return handle.read()
