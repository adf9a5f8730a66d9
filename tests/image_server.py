"""A small HTTP server on 127.0.0.1 that serves good and misbehaving images for the fetcher tests."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

from tests.conftest import encode, product_image

# Pages that name their picture the ways link previews read it (https://ogp.me/, X summary cards).
PAGES = {
    "/shop/og.html": '<!doctype html><html><head><title>A dress</title>'
                     '<meta property="og:image" content="../img/3.jpg"></head><body>Buy</body></html>',
    "/shop/twitter.html": '<html><head><meta name="twitter:image" content="/img/4.jpg"></head></html>',
    "/shop/no-image.html": "<!doctype html><html><head><title>Words only</title></head><body>hi</body></html>",
    "/shop/private-image.html": '<html><head><meta property="og:image" '
                                'content="http://10.0.0.1/secret.jpg"></head></html>',
    "/shop/malformed-image.html": '<html><head><meta property="og:image" content="http://[::1/x.jpg"></head></html>',
}


class ImageServer:
    def __init__(self):
        self.images = {f"/img/{i}.jpg": encode(product_image(i), "JPEG") for i in range(6)}
        self.bodies_served: Counter[str] = Counter()   # full 200 responses with a body
        self.hits: Counter[str] = Counter()            # every request
        self.flaky_left = 2
        self.base = ""
        self.feeds: dict[str, bytes] = {}

    def handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                server.hits[path] += 1
                if path in server.images:
                    return self._image(path, server.images[path])
                if path == "/slow.jpg":
                    time.sleep(3)
                    return self._image(path, server.images["/img/0.jpg"])
                if path == "/missing.jpg":
                    return self._status(404)
                if path == "/broken.jpg":
                    return self._status(500)
                if path == "/flaky.jpg":
                    if server.flaky_left > 0:
                        server.flaky_left -= 1
                        return self._status(503)
                    return self._image(path, server.images["/img/1.jpg"])
                if path == "/huge.jpg":
                    return self._image(path, b"\xff\xd8\xff" + b"\0" * 3_000_000)
                if path == "/page.html":
                    return self._send(200, b"<html>not an image</html>", "text/html")
                if path == "/liar.jpg":
                    return self._send(200, b"<html>claims to be a jpeg</html>", "image/jpeg")
                if path == "/moved.jpg":
                    return self._redirect(server.base + "/img/2.jpg")
                if path == "/to-metadata.jpg":
                    return self._redirect("http://169.254.169.254/latest/meta-data/")
                if path == "/to-file.jpg":
                    return self._redirect("file:///etc/passwd")
                if path == "/loop.jpg":
                    return self._redirect(server.base + "/loop.jpg")
                if path.startswith("/feeds/"):
                    return self._feed(path)
                if path in PAGES:
                    return self._send(200, PAGES[path].encode(), "text/html; charset=utf-8")
                if path == "/data.bin":
                    return self._send(200, bytes(range(256)) * 40, "application/octet-stream")
                return self._status(404)

            def _image(self, path, body):
                etag = '"' + hashlib.sha1(body).hexdigest() + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                server.bodies_served[path] += 1
                self._send(200, body, "image/jpeg", {"ETag": etag})

            def _feed(self, path):
                body = server.feeds.get(path)
                if body is None:
                    return self._status(404)
                self._send(200, body, "text/csv")

            def _redirect(self, location):
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _status(self, code):
                self._send(code, b"error", "text/plain")

            def _send(self, code, body, content_type, headers=None):
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        return Handler


class _JoiningServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() then waits for handlers, so no socket outlives the test


@contextlib.contextmanager
def serving() -> Iterator[ImageServer]:
    state = ImageServer()
    httpd = _JoiningServer(("127.0.0.1", 0), state.handler())
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
