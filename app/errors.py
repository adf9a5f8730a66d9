"""Every error code the API can return, its HTTP status, and the handlers that render them.

Clients (the mobile app, shop scripts) switch on ``code``; the codes are part of the contract and only
ever get added to. Domain exceptions are mapped here, in one place, so no view builds an error by hand.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from indexer.stores.index_store import IndexNotFound, UnknownProduct
from vision.face import NoFaceFound
from vision.images import ImageError

log = logging.getLogger(__name__)

STATUS = {
    "missing_image": 400,
    "empty_image": 400,
    "invalid_image": 400,
    "invalid_parameter": 400,
    "missing_query": 400,
    "image_url_refused": 400,
    "malformed_request": 400,
    "unauthorized": 401,
    "admin_disabled": 403,
    "not_found": 404,
    "unknown_product": 404,
    "method_not_allowed": 405,
    "request_timeout": 408,
    "reload_failed": 409,
    "job_running": 409,
    "no_job": 409,
    "image_too_large": 413,
    "payload_too_large": 413,
    "uri_too_long": 414,
    "unsupported_media_type": 415,
    "image_too_small": 422,
    "no_face": 422,
    "image_url_unreachable": 422,
    "image_url_not_an_image": 422,
    "rate_limited": 429,
    "headers_too_large": 431,
    "internal_error": 500,
    "unsupported_transfer_coding": 501,
    "index_not_ready": 503,
    "overloaded": 503,
}

_HTTP_CODES = {400: "invalid_parameter", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
               415: "unsupported_media_type", 429: "rate_limited"}


class ApiError(Exception):
    """A failure the client can act on; ``code`` must be a key of ``STATUS``."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None):
        if code not in STATUS:
            raise ValueError(f"Unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return STATUS[self.code]


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The one error shape: ``{"error": {"code", "message"}}``."""
    return {"error": {"code": code, "message": message}}


def error_response(code: str, message: str, headers: dict[str, str] | None = None):
    response = jsonify(error_body(code, message))
    response.status_code = STATUS[code]
    response.headers.update(headers or {})
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.code, exc.message, exc.headers)

    @app.errorhandler(ImageError)
    def image_error(exc: ImageError):
        return error_response(exc.code, str(exc))

    @app.errorhandler(NoFaceFound)
    def no_face(exc: NoFaceFound):
        return error_response("no_face", str(exc))

    @app.errorhandler(UnknownProduct)
    def unknown_product(exc: UnknownProduct):
        return error_response("unknown_product", f"No product with id {exc.args[0]!r}.")

    @app.errorhandler(IndexNotFound)
    def index_missing(exc: IndexNotFound):
        return error_response("index_not_ready", str(exc), {"Retry-After": "10"})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = _HTTP_CODES.get(exc.code or 500, "invalid_parameter" if (exc.code or 500) < 500 else "internal_error")
        message = exc.description or exc.name
        if exc.code == 413:
            message = "The request body is too large."
        allowed = getattr(exc, "valid_methods", None)
        return error_response(code, message, {"Allow": ", ".join(allowed)} if allowed else None)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("Unhandled error")  # request bodies are never logged, only the traceback
        return error_response("internal_error", "Something went wrong on our side; please try again.")
