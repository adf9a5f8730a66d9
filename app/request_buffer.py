"""One HTTP/1.1 request gathered in memory as its bytes arrive, so a slow client costs a buffer, not a thread.

h11 frames the request (Content-Length or chunked); what counts as a valid request stays gunicorn's call:
anything h11 cannot frame is handed over at once, and gunicorn's parser refuses it with its usual JSON
error. Bytes are kept in memory only (uploads are never spooled to disk).
"""

from __future__ import annotations

import h11

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class RequestBuffer:
    def __init__(self, max_head_bytes: int, max_body_bytes: int, now: float):
        self._framer = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head_bytes)
        self.max_body_bytes = max_body_bytes
        self._chunks: list[bytes] = []
        self.size = 0
        self.started = now
        self.last_progress = now
        self.head_done = False
        self.complete = False        # all of the request is here (or it cannot be framed): hand it over
        self.send_continue = False   # the client waits for "100 Continue" before it sends the body

    def feed(self, data: bytes, now: float) -> None:
        """Add bytes from the socket; ``b""`` means the client closed its side."""
        if data:
            self._chunks.append(data)
            self.size += len(data)
            self.last_progress = now
        self._framer.receive_data(data)
        self._advance()
        if self.size > self.max_body_bytes:  # chunked bodies declare no length: stop at the limit all the same
            self.complete = True

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data

    def _advance(self) -> None:
        while not self.complete:
            try:
                event = self._framer.next_event()
            except h11.RemoteProtocolError:
                self.complete = True  # gunicorn's parser answers it (400, 414, 431, 501 in JSON)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.head_done = True
                if self._declared_length(event) > self.max_body_bytes:
                    self.complete = True  # the app refuses it with 413 without reading the body
                    return
                self.send_continue = self._framer.they_are_waiting_for_100_continue
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                self.complete = True

    @staticmethod
    def _declared_length(request: h11.Request) -> int:
        for name, value in request.headers:
            if name == b"content-length":
                return int(value)
        return 0
