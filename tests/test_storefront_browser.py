"""shoplens inside a shop's own page, served from a second origin with hostile global CSS."""

from __future__ import annotations

import contextlib
import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import phone_page, requires_chromium, running_server

pytestmark = [pytest.mark.browser, requires_chromium]
SIZE_BUDGET = 35 * 1024  # gzipped bytes of /embed/shoplens.js

SHOP_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>A shop</title>
<style>
  /* a theme's global rules, as shops have them */
  body {{ font-size: 3px; color: red; letter-spacing: 4px; }}
  div, img, ul, li, a, span, button, p, h2 {{ display: none !important; margin: 60px !important;
                                             padding: 30px !important; border: 9px solid lime !important; }}
  shoplens-similar {{ --shoplens-accent: rgb(0, 90, 200); }}
</style>
<script src="{server}/embed/shoplens.js" defer></script>
<script>
  window.events = [];
  for (const name of ["shoplens:add-to-cart", "shoplens:select"]) {{
    document.addEventListener(name, (event) => {{ window.events.push([name, event.detail.productId]);
                                                  event.preventDefault(); }});
  }}
</script></head>
<body><main><h1>Red dress</h1><section><shoplens-similar product-id="p006" k="4"></shoplens-similar></section></main>
</body></html>"""


@contextlib.contextmanager
def shop_site(pages: dict[str, tuple[str, dict[str, str]]], port: int = 0) -> Iterator[str]:
    """A shop's own site on another local port serving ``pages`` ({path: (html, extra headers)})."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path not in pages:
                self.send_error(404)
                return
            html, headers = pages[self.path]
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def strict_page(server: str) -> tuple[str, dict[str, str]]:
    """A shop page under a strict Content-Security-Policy: only what the README's advice allows."""
    policy = (f"default-src 'none'; script-src {server}; connect-src {server}; img-src {server} blob:; "
              "style-src 'none'")
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Strict shop</title>'
            f'<script src="{server}/embed/shoplens.js" defer></script></head><body>'
            '<shoplens-similar product-id="p006" k="3"></shoplens-similar></body></html>')
    return html, {"Content-Security-Policy": policy}


@pytest.fixture(scope="module")
def shop_and_server(shop_index):
    """shoplens allowing one shop's origin (its CORS allowlist), that shop, and a shop it does not allow."""
    from tests.browser import free_port

    shop_port = free_port()
    allowed = f"http://127.0.0.1:{shop_port}"
    with running_server("--index", str(shop_index), "--reload-interval", "0", "--cors-origins", allowed) as base:
        pages = {f"/{lang}.html": (SHOP_PAGE.format(lang=lang, server=base), {}) for lang in ("en", "fr")}
        pages["/strict.html"] = strict_page(base)
        with shop_site(pages, shop_port) as shop, shop_site(pages) as other_shop:
            yield base, shop, other_shop


def test_similar_products_render_in_a_hostile_page_and_talk_only_to_shoplens(shop_and_server):
    server, shop, _ = shop_and_server
    with phone_page() as page:
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(shop + "/en.html")
        cards = page.locator("shoplens-similar li.card")
        expect(cards).to_have_count(4)
        ids = cards.evaluate_all("cards => cards.map(card => card.dataset.productId)")
        assert "p006" not in ids and len(set(ids)) == 4
        first = cards.first
        box = first.bounding_box()
        assert box["width"] > 100 and box["height"] > 150  # the shop's rules did not hide or squash it
        assert first.locator("img").evaluate("img => getComputedStyle(img).display") == "block"
        button = first.locator("button")
        expect(button).to_have_text("Add to cart")
        assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(0, 90, 200)"  # themed
        assert float(first.locator(".title").evaluate("t => parseFloat(getComputedStyle(t).fontSize)")) > 10
        button.click()
        first.locator("a").click()
        assert page.evaluate("window.events") == [["shoplens:add-to-cart", ids[0]], ["shoplens:select", ids[0]]]
        assert page.url == shop + "/en.html"  # the shop handled the select itself
        assert all(url.startswith((server, shop)) for url in requests), requests
        assert any(url.startswith(server + "/api/v1/products/p006/similar") for url in requests)

        page.goto(shop + "/fr.html")
        expect(page.locator("shoplens-similar li.card button").first).to_have_text("Ajouter au panier")
        expect(page.locator("shoplens-similar h2")).to_have_text("Vous aimerez aussi")


def test_a_strict_content_security_policy_needs_nothing_inline(shop_and_server):
    """Styles come as a constructed sheet, so the README's CSP advice (no 'unsafe-inline') is enough."""
    _, shop, _ = shop_and_server
    with phone_page() as page:
        problems: list[str] = []
        page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
        page.goto(shop + "/strict.html")
        cards = page.locator("shoplens-similar li.card")
        expect(cards).to_have_count(3)
        button = cards.first.locator("button")
        assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(142, 36, 83)"  # styled
        assert cards.first.bounding_box()["width"] > 100
        assert not [text for text in problems if "Content Security Policy" in text], problems


def test_a_shop_outside_the_allowlist_gets_no_products(shop_and_server):
    _, _, other_shop = shop_and_server
    with phone_page() as page:
        page.goto(other_shop + "/en.html")
        expect(page.locator("shoplens-similar p.status.error")).to_be_visible()
        expect(page.locator("shoplens-similar li.card")).to_have_count(0)


def test_the_script_is_cached_and_within_its_size_budget(shop_and_server):
    import urllib.request

    server = shop_and_server[0]
    with urllib.request.urlopen(server + "/embed/shoplens.js") as response:
        body = response.read()
        assert response.headers["ETag"] and "max-age" in response.headers["Cache-Control"]
        assert response.headers["Content-Type"].startswith("text/javascript")
    assert b"__SHOPLENS_MESSAGES__" not in body and b'"fr"' in body
    assert len(gzip.compress(body, 9)) <= SIZE_BUDGET
