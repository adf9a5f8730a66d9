"""The shopper's page: static files shipped in the ``static`` package, no CDN, works offline."""

from __future__ import annotations

from flask import Blueprint, current_app

bp = Blueprint("web", __name__)


@bp.get("/")
def index_page():
    response = current_app.send_static_file("index.html")
    response.cache_control.no_cache = True
    return response
