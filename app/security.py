"""Response headers that make the page and the API harder to abuse from a browser."""

from __future__ import annotations

from flask import Flask, Response

# No inline script or style anywhere in static/, so the policy can forbid both.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                           "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
                           "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

# The shopper page runs MediaPipe Face Mesh for live try-on: WebAssembly, and Emscripten glue that builds functions
# with eval (it fails with EvalError otherwise). Scripts still come only from this origin, never inline.
SHOPPER_PAGE_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'", "script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval'")

# Swagger UI (the API docs page) adds <style> elements at run time; its scripts stay 'self' only.
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def add_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response
