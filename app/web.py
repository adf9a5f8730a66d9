"""The shopper's page: static files shipped in the ``static`` package, no CDN, works offline."""

from __future__ import annotations

from flask import Blueprint, current_app

bp = Blueprint("web", __name__)


@bp.get("/")
def index_page():
    return _page("index.html")


@bp.get("/admin")
def console_page():
    """The merchandiser console; it holds no data itself and asks for the admin token."""
    return _page("admin.html")


def _page(name: str):
    response = current_app.send_static_file(name)
    response.cache_control.no_cache = True
    return response
