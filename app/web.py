"""The shopper's page: static files shipped in the ``static`` package, no CDN, works offline."""

from __future__ import annotations

from flask import Blueprint, current_app

from app.api_spec import ApiResponses, api
from app.security import SHOPPER_PAGE_CONTENT_SECURITY_POLICY

bp = Blueprint("web", __name__)


@bp.get("/")
@api.validate(resp=ApiResponses("HTML", media="text/html"), tags=["pages"], operation_id="shopperPage")
def index_page():
    """The shopper's page: photo search, text search and try-on"""
    response = _page("index.html")
    response.headers["Content-Security-Policy"] = SHOPPER_PAGE_CONTENT_SECURITY_POLICY
    return response


@bp.get("/admin")
@api.validate(resp=ApiResponses("HTML", media="text/html"), tags=["pages"], operation_id="consolePage")
def console_page():
    """The merchandiser console

    A static page: it holds no data itself and asks for the admin token.
    """
    return _page("admin.html")


def _page(name: str):
    response = current_app.send_static_file(name)
    response.cache_control.no_cache = True
    return response
