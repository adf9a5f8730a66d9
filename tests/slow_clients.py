"""Clients that hold connections open the way slow phones and slowloris attacks do (tests and bench)."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Iterator
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

HALF_REQUEST = b"POST /api/v1/search HTTP/1.1\r\nHost: shop\r\nContent-Type: multipart/form-da"


def address(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    return parts.hostname, parts.port


@contextlib.contextmanager
def half_requests(base: str, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that each send half a request header, then wait."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.create_connection(address(base), timeout=10)
            sock.sendall(HALF_REQUEST)
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def noisy_jpeg(size_bytes: int, seed: int = 0) -> bytes:
    """A JPEG of about ``size_bytes`` (noise compresses badly, so a photo-sized upload stays small in pixels)."""
    rng = np.random.default_rng(seed)
    side = int((size_bytes / 1.2) ** 0.5 / 1.3) + 32
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def photo_upload(jpeg: bytes, path: str = "/api/v1/search?k=5") -> bytes:
    """A complete multipart photo-search request, as bytes on the wire."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n").encode() + jpeg + f"\r\n--{boundary}--\r\n".encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: shop\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    return head + body


class TricklingUpload(threading.Thread):
    """Sends one photo search at about ``rate`` bytes per second, like a phone on a poor mobile link."""

    def __init__(self, base: str, request: bytes, rate: int = 20_000, step: float = 0.1):
        super().__init__(daemon=True)
        self.base, self.request, self.rate, self.step = base, request, rate, step
        self.status: int | None = None
        self.error: str | None = None
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        piece = max(1, int(self.rate * self.step))
        try:
            with socket.create_connection(address(self.base), timeout=60) as sock:
                for start in range(0, len(self.request), piece):
                    sock.sendall(self.request[start:start + piece])
                    time.sleep(self.step)
                response = b""
                while b"\r\n" not in response:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    response += chunk
                self.status = int(response.split(b" ", 2)[1]) if response else None
        except OSError as exc:
            self.error = repr(exc)
        self.seconds = time.monotonic() - started


@contextlib.contextmanager
def slow_crowd(base: str, half_sent: int = 200, uploads: int = 20) -> Iterator[list[TricklingUpload]]:
    """The issue's scenario: connections holding half a header, plus photo uploads trickling at ~20 KB/s
    (60 KB each, so about 3 s apiece). Yields the uploads once they are under way; joins them on exit."""
    with half_requests(base, half_sent):
        trickles = [TricklingUpload(base, photo_upload(noisy_jpeg(60_000, seed=i))) for i in range(uploads)]
        for upload in trickles:
            upload.start()
        time.sleep(0.5)
        yield trickles
        for upload in trickles:
            upload.join(60)


def read_response(sock: socket.socket, limit: float = 15.0) -> bytes:
    """Everything the server sends until it closes the connection (or ``limit`` seconds pass)."""
    sock.settimeout(limit)
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def timed_get(url: str, timeout: float = 30) -> tuple[int, float]:
    """(status, seconds) of one GET; status 0 when no answer came in time."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            return response.status, time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, time.monotonic() - started
    except OSError:  # timed out or reset (URLError is an OSError too)
        return 0, time.monotonic() - started


def timed_photo_search(base: str, jpeg: bytes) -> tuple[int, float]:
    """(status, seconds) of one photo search over a fresh connection; status 0 when no answer came in time."""
    started = time.monotonic()
    with socket.create_connection(address(base), timeout=30) as sock:
        sock.sendall(photo_upload(jpeg))
        response = read_response(sock, 30)
    status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else 0
    return status, time.monotonic() - started
