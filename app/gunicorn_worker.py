"""gunicorn's threaded worker, with gunicorn's own refusals (request line, headers, malformed HTTP) answered
in the API's JSON error shape instead of its HTML page.

Those requests never reach Flask: gunicorn refuses them while parsing. Its limits stay where they are (a
request line of 4094 bytes, 100 headers of 8190 bytes each) because they bound the memory a client can pin.
"""

from __future__ import annotations

import contextlib
import errno
import json
import selectors
import time
from datetime import datetime
from functools import partial

from gunicorn.http import errors as http_errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.util import write_nonblock
from gunicorn.workers.gthread import TConn, ThreadWorker

from app.api_requests import MAX_QUERY_CHARS
from app.errors import STATUS, error_body
from app.request_buffer import CONTINUE, RequestBuffer
from app.settings import Settings

RECV_BYTES = 256 * 1024
STOP_LINGER = 2.0  # seconds a stopping worker waits for the first bytes of a connection it has accepted

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


class BufferingWorker(JsonErrorWorker):
    """Reads each request whole, on the worker's event loop, before a request thread sees it.

    gunicorn's threaded worker gives a connection a thread as soon as its first bytes arrive; four clients
    sending half a header (or phones uploading over a slow link) then hold every thread. Here a connection
    waits in the poller, its bytes gathered by ``RequestBuffer``, until the whole request is in memory;
    clients too slow with their headers or silent too long within a body get 408. The request then goes
    through gunicorn's own parser, from memory, so every other behaviour stays gunicorn's.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        settings = getattr(self.app, "settings", None) or Settings()
        self.header_timeout = settings.header_timeout
        self.body_timeout = settings.body_timeout
        self.max_buffered_bytes = settings.max_buffered_mb * 1024 * 1024
        self.max_body_bytes = settings.max_request_bytes()
        self.max_head_bytes = (self.cfg.limit_request_line + 4
                               + self.cfg.limit_request_fields * (self.cfg.limit_request_field_size + 2))
        self.buffering: dict[TConn, RequestBuffer] = {}
        self.buffered_bytes = 0

    def accept(self, listener):
        if self.cfg.is_ssl:  # TLS must be unwrapped before framing: leave those connections to gthread
            return super().accept(listener)
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._gather(TConn(self.cfg, client_sock, client_addr, listener.getsockname()))

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection starts its next request: gather that one too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._gather(conn)
        self._read_available(conn, client)

    def handle(self, conn):
        prefetched = conn.__dict__.pop("prefetched", b"")
        if prefetched:
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(prefetched)
        return super().handle(conn)

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        for conn, buffer in list(self.buffering.items()):
            idle_limit = min(self.header_timeout, STOP_LINGER) if not self.alive else self.header_timeout
            if buffer.size == 0 and now - buffer.started > idle_limit:
                # an idle connection that never sent a request: just close it (a stopping worker waits a little,
                # since a client that has just connected is sending its request: closing now would reset it)
                self._forget(conn)
            elif not buffer.head_done and now - buffer.started > self.header_timeout:
                self._refuse(conn, f"The request headers took longer than {self.header_timeout:g} s to arrive.")
            elif buffer.head_done and now - buffer.last_progress > self.body_timeout:
                self._refuse(conn, f"The request body stalled for more than {self.body_timeout:g} s.")

    def _gather(self, conn: TConn) -> None:
        conn.sock.setblocking(False)
        self.buffering[conn] = RequestBuffer(self.max_head_bytes, self.max_body_bytes, time.monotonic())
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read_available, conn))

    def _read_available(self, conn: TConn, _client) -> None:
        buffer = self.buffering.get(conn)
        if buffer is None:
            return
        now = time.monotonic()
        closed = False
        while not buffer.complete:
            try:
                data = conn.sock.recv(RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._forget(conn)
                return
            buffer.feed(data, now)
            self.buffered_bytes += len(data)
            if not data:
                closed = True
                break
        if buffer.send_continue:
            buffer.send_continue = False
            with contextlib.suppress(OSError):
                conn.sock.send(CONTINUE)
        if closed and buffer.size == 0:
            self._forget(conn)
        elif buffer.complete or closed or self.buffered_bytes > self.max_buffered_bytes:
            self._dispatch(conn)

    def _dispatch(self, conn: TConn) -> None:
        buffer = self._release(conn)
        conn.prefetched = buffer.take()
        conn.data_ready = True
        self.enqueue_req(conn)

    def _refuse(self, conn: TConn, message: str) -> None:
        self.log.warning("Timed out a slow request from ip=%s", (conn.client or ("",))[0])
        body = json.dumps(error_body("request_timeout", message)).encode()
        head = ("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
        with contextlib.suppress(OSError):
            conn.sock.send(head + body)
        self._forget(conn)

    def _forget(self, conn: TConn) -> None:
        self._release(conn)
        self.nr_conns -= 1
        conn.close()

    def _release(self, conn: TConn) -> RequestBuffer:
        buffer = self.buffering.pop(conn)
        self.buffered_bytes -= buffer.size
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        return buffer
