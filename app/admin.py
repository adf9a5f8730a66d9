"""Operator endpoints, behind a bearer token; with no token configured they are switched off."""

from __future__ import annotations

import hmac

from flask import Blueprint, jsonify, request

from app.errors import ApiError
from app.resources import resources

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


@bp.before_request
def require_token():
    """:raise 403: admin_disabled without a configured token.  :raise 401: unauthorized for a wrong one."""
    expected = resources().settings.admin_token
    if not expected:
        raise ApiError("admin_disabled", "The admin API is disabled: set SHOPLENS_ADMIN_TOKEN to enable it.")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise ApiError("unauthorized", "A valid 'Authorization: Bearer <token>' header is required.",
                       {"WWW-Authenticate": 'Bearer realm="shoplens-admin"'})


@bp.post("/reload")
def reload_index():
    """Switch to the newest index version.  :raise 409: reload_failed when it is broken."""
    switched = resources().reload_index()
    live = resources().store.live
    return jsonify({"switched": switched, "version": live.name, "count": live.manifest.count})
