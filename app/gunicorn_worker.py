"""gunicorn's threaded worker, with gunicorn's own refusals (request line, headers, malformed HTTP) answered
in the API's JSON error shape instead of its HTML page.

Those requests never reach Flask: gunicorn refuses them while parsing. Its limits stay where they are (a
request line of 4094 bytes, 100 headers of 8190 bytes each) because they bound the memory a client can pin.
"""

from __future__ import annotations

import json
from datetime import datetime

from gunicorn.http import errors as http_errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.util import write_nonblock
from gunicorn.workers.gthread import ThreadWorker

from app.api_requests import MAX_QUERY_CHARS
from app.errors import STATUS, error_body

_MALFORMED = (
    http_errors.InvalidRequestLine, http_errors.InvalidRequestMethod, http_errors.InvalidHTTPVersion,
    http_errors.InvalidHeader, http_errors.InvalidHeaderName, http_errors.ObsoleteFolding,
    http_errors.InvalidChunkSize, http_errors.ChunkMissingTerminator, http_errors.InvalidChunkExtension,
    http_errors.InvalidSchemeHeaders, http_errors.InvalidProxyLine, http_errors.InvalidH2CPreface,
)
_APP_FAULTS = (http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName)
REASONS = {400: "Bad Request", 414: "URI Too Long", 431: "Request Header Fields Too Large",
           501: "Not Implemented"}


def refusal_for(exc: BaseException) -> tuple[str, str] | None:
    """The error code and message for a request gunicorn refused while parsing; None for anything else."""
    if isinstance(exc, _APP_FAULTS):
        return None
    if isinstance(exc, http_errors.LimitRequestLine):
        return ("uri_too_long", f"The URL is too long; keep the query string under 4,000 characters "
                                f"(q takes at most {MAX_QUERY_CHARS}).")
    if isinstance(exc, http_errors.LimitRequestHeaders):
        return "headers_too_large", f"The request headers are too large ({exc})."
    if isinstance(exc, http_errors.UnsupportedTransferCoding):
        return "unsupported_transfer_coding", "Only the chunked transfer coding is supported."
    if isinstance(exc, _MALFORMED):
        return "malformed_request", "The HTTP request is malformed."
    return None


class JsonErrorWorker(ThreadWorker):
    """Selected by ``app.server`` as ``worker_class``."""

    def handle_error(self, req, client, addr, exc):
        started = datetime.now()
        refusal = refusal_for(exc)
        if refusal is None:
            return super().handle_error(req, client, addr, exc)
        code, message = refusal
        status = STATUS[code]
        reason = REASONS[status]
        # the request line may hold a shopper's search text: only the kind of refusal is logged
        self.log.warning("Refused a request from ip=%s: %s", (addr or ("",))[0], type(exc).__name__)
        body = json.dumps(error_body(code, message)).encode()
        if req is not None:
            environ = default_environ(req, client, self.cfg)
            response = Response(req, client, self.cfg)
            response.status = f"{status} {reason}"
            response.response_length = len(body)
            self.log.access(response, req, environ, datetime.now() - started)
        head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
        try:
            write_nonblock(client, head + body)
        except Exception:  # the client is gone: nothing left to tell it
            self.log.debug("Failed to send the error response.")
