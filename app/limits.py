"""Per-client rate limits (separate budgets for search and for face work) and the CORS allowlist.

Limits are attached to each app instance, not a module-level limiter, so two apps in one process
(tests, or an embedding server) never share counters. Behind a load balancer set
``SHOPLENS_TRUSTED_PROXIES`` to the number of proxies in front of the app, so the client address is
read from ``X-Forwarded-For``; with 0 that header is ignored and cannot be forged to dodge limits.
"""

from __future__ import annotations

from flask import Flask, request
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from app.settings import Settings

SEARCH_ENDPOINTS = ("search.search_by_image", "search.search_by_text", "search.similar_products",
                    "recommend.recommend", "share.share_target")
LINK_ENDPOINTS = ("search.search_by_image", "share.share_target")
FACE_ENDPOINTS = ("tryon.try_on", "tryon.face_landmarks", "shades.analyze_face", "shades.match_lipstick")


def install_rate_limits(app: Flask, settings: Settings) -> Limiter | None:
    if settings.trusted_proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)
    if not (settings.search_rate_limit or settings.tryon_rate_limit or settings.link_rate_limit):
        return None
    limiter = Limiter(key_func=get_remote_address, app=app, storage_uri=settings.rate_limit_storage,
                      headers_enabled=True, strategy="moving-window")
    for endpoints, value, scope in ((SEARCH_ENDPOINTS, settings.search_rate_limit, "search"),
                                    (FACE_ENDPOINTS, settings.tryon_rate_limit, "tryon")):
        if value:
            shared = limiter.shared_limit(value, scope=scope)
            for endpoint in endpoints:
                app.view_functions[endpoint] = shared(app.view_functions[endpoint])
    if settings.link_rate_limit:  # each link costs us outbound fetches: a budget of its own, on top of search's
        links = limiter.shared_limit(settings.link_rate_limit, scope="link",
                                     exempt_when=lambda: not _fetches_a_link())
        for endpoint in LINK_ENDPOINTS:
            app.view_functions[endpoint] = links(app.view_functions[endpoint])
    return limiter


def _fetches_a_link() -> bool:
    """Whether this request makes the server fetch a URL: a search by image_url, or a shared link."""
    if request.endpoint == "share.share_target":
        return "image" not in request.files and any("://" in request.form.get(field, "") for field in ("url", "text"))
    return bool(request.args.get("image_url") or request.form.get("image_url"))


def install_cors(app: Flask, settings: Settings) -> None:
    """Let the shop's own web origins call the API from a browser; everyone else gets no CORS headers."""
    origins = [origin.strip() for origin in settings.cors_origins.split(",") if origin.strip()]
    if origins:
        CORS(app, resources={r"/api/*": {"origins": origins}}, methods=["GET", "POST", "OPTIONS"],
             allow_headers=["Authorization", "Content-Type"], expose_headers=["X-Faces", "X-Face-Boxes", "Retry-After"],
             max_age=600)
